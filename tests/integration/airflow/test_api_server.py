"""Through a real ``airflow api-server`` started here (127.0.0.1, its own AIRFLOW_HOME):
the plugins as Airflow loads them, a push stored, the campaign view behind Airflow's login,
and a browser (headless Chromium) reading the view of a real run of the example DAG.

One server serves the whole module. The browser test needs Debian's ``chromium`` and
``chromium-driver`` (scripts/test.sh installs them); without them it skips, except under
``CI=true``, where it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_hbsms.protocol import Reply, Report, build_replies_xml, build_reports_xml
from airflow_provider_hbsms.store import open_store
from airflow_provider_hbsms.testing import connection_for
from airflow_provider_hbsms.ui import queries
from airflow_provider_hbsms.ui.funnel import campaign_funnel

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[3]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
SCREENSHOTS = REPO / "var" / "screenshots"
TOKEN = "push-token-for-tests"
DAG_ID = "hbsms_example_campaign"
USERS = {"admin": "admin-pw", "viewer": "viewer-pw"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ApiServer:
    base_url: str
    env: dict[str, str]
    store_url: str
    home: Path

    def token(self, user: str = "admin") -> str:
        answer = requests.post(
            f"{self.base_url}/auth/token",
            json={"username": user, "password": USERS[user]},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["access_token"])

    def get(self, path: str, user: str | None = "admin", **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token(user)}"} if user else {}
        return requests.get(f"{self.base_url}{path}", headers=headers, timeout=60, **kwargs)


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    home = tmp_path_factory.mktemp("api-server-home")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps(USERS))
    store_url = f"sqlite:///{home / 'hbsms.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags_examples"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__BASE_URL=base_url,
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{base_url}/execution/",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin,viewer:viewer",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
        AIRFLOW__HBSMS__RECEIVER_TOKEN=TOKEN,
        AIRFLOW__HBSMS__STORE_URL=store_url,
        HBSMS_PACING_DIR=str(home / "pacing"),
    )
    # Outside the checkout: its egg-info would list the distribution (and its plugins) twice.
    subprocess.run(
        [AIRFLOW, "db", "migrate"], env=env, cwd=home, check=True, capture_output=True, timeout=300
    )
    log = (home / "api-server.log").open("w")
    server = subprocess.Popen(
        [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                pytest.fail("the API server exited:\n" + (home / "api-server.log").read_text())
            try:
                if requests.get(f"{base_url}/api/v2/monitor/health", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the API server did not answer within 180 s")
            time.sleep(1)
        yield ApiServer(base_url, env, store_url, home)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def test_api_server_lists_the_plugins(api_server: ApiServer) -> None:
    plugins = api_server.get("/api/v2/plugins").json()["plugins"]
    names = {p["name"] for p in plugins}
    assert {"hbsms_receiver", "hbsms_campaigns"} <= names
    assert api_server.get("/api/v2/plugins/importErrors").json()["import_errors"] == []


def test_push_through_the_api_server_is_stored(api_server: ApiServer) -> None:
    base = f"{api_server.base_url}/hbsms"
    assert requests.get(f"{base}/health", timeout=30).json() == {"status": "ok"}
    reports = build_reports_xml([Report("13800000001", "api-1"), Report("13800000002", "api-2")])
    answer = requests.post(f"{base}/{TOKEN}/reports", data=reports, timeout=30)
    assert (answer.status_code, answer.text) == (200, "0")
    replies = build_replies_xml([Reply("13800000003", "退订")])
    assert requests.post(f"{base}/{TOKEN}/replies", data=replies, timeout=30).text == "0"
    assert requests.post(f"{base}/wrong/reports", data=reports, timeout=30).status_code == 404
    store = open_store(url=api_server.store_url)
    stored = {(r["mobile"], r["msg_id"]) for r in store.reports.rows_after(0)}
    assert {("13800000001", "api-1"), ("13800000002", "api-2")} <= stored
    assert "13800000003" in store.opt_outs.all()


def test_campaign_view_needs_a_login(api_server: ApiServer) -> None:
    path = "/hbsms-campaigns/overview"
    assert api_server.get(path, user=None).status_code == 401
    garbage = {"Authorization": "Bearer not-a-token"}
    answer = requests.get(f"{api_server.base_url}{path}", headers=garbage, timeout=30)
    assert answer.status_code == 403
    assert api_server.get(path, user="viewer").status_code == 200
    # The charting library is served without a login, from the package (no CDN).
    library = requests.get(
        f"{api_server.base_url}/hbsms-campaigns/static/chart.umd.min.js", timeout=30
    )
    assert library.ok
    assert "Chart.js v4" in library.text[:200]


@pytest.fixture(scope="module")
def example_run(api_server: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A run of the example DAG (``airflow dags test``) in the server's metadata database,
    against the gateway simulator; returns its run id."""
    from airflow_provider_hbsms.simulator import GatewaySimulator, SimulatorConfig
    from airflow_provider_hbsms.testing import simulated_account

    config = SimulatorConfig(
        accounts=[simulated_account()], report_delay=1.0, failure_ratio=0.1, seed=3
    )
    warehouse = tmp_path_factory.mktemp("warehouse") / "warehouse.db"
    with GatewaySimulator(config) as simulator:
        simulator.inject_reply("13900010007", "TD", "88")
        simulator.inject_reply("13900020014", "收到，谢谢", "88")
        env = {
            **api_server.env,
            "AIRFLOW_CONN_HBSMS_DEFAULT": connection_for(simulator).as_json(),
            "AIRFLOW_CONN_HBSMS_WAREHOUSE": json.dumps(
                {"conn_type": "sqlite", "host": str(warehouse)}
            ),
        }
        result = subprocess.run(
            [AIRFLOW, "dags", "test", DAG_ID],
            env=env,
            cwd=api_server.home,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    (record,) = [
        r
        for r in queries.recent_campaigns(open_store(url=api_server.store_url))
        if r["dag_id"] == DAG_ID
    ]
    return str(record["run_id"])


def test_campaign_view_of_the_example_run(api_server: ApiServer, example_run: str) -> None:
    store = open_store(url=api_server.store_url)
    key = queries.campaign_of_task(store, DAG_ID, example_run, "send_reminders")
    assert key is not None
    params = {
        "dag_id": DAG_ID,
        "run_id": example_run,
        "task_id": "send_reminders",
        "map_index": "{MAP_INDEX}",  # as the UI sends it for an unmapped task
    }
    page = api_server.get("/hbsms-campaigns/campaign", user="viewer", params=params)
    assert page.status_code == 200
    counts = {k: int(v) for k, v in re.findall(r'data-count="(\w+)">(\d+)<', page.text)}
    funnel = campaign_funnel(store, key)
    assert counts["rows"] == counts["valid"] == counts["sent"] == 40
    assert counts["delivered"] + counts["failed"] + counts["pending"] == 40
    assert counts["delivered"] == funnel.delivered == store.reports.summary(key).delivered
    run = api_server.get("/hbsms-campaigns/run", params={"dag_id": DAG_ID, "run_id": example_run})
    assert key in run.text
    overview = api_server.get("/hbsms-campaigns/overview")
    assert key in overview.text


# ---------------------------------------------------------------------------------- browser


def _browser() -> Any:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if chromium is None or not os.path.exists(driver):
        message = "headless Chromium and chromedriver are needed (apt-get install chromium "
        message += "chromium-driver; scripts/test.sh does it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1440,1200",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = _browser()
    try:
        yield driver
    finally:
        driver.quit()


def _log_in(browser: Any, base_url: str, user: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{base_url}/")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: d.find_elements(By.NAME, "username"))
    browser.find_element(By.NAME, "username").send_keys(user)
    password = browser.find_element(By.NAME, "password")
    password.send_keys(USERS[user])
    password.send_keys(Keys.ENTER)
    wait.until(lambda d: "/auth/login" not in d.current_url)


def _plugin_frame_counts(browser: Any, url: str, screenshot: Path) -> dict[str, int]:
    """Open a UI page with a plugin tab, read the counts inside its frame, screenshot it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    wait = WebDriverWait(browser, 90)
    frame = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "iframe"))[0]
    browser.switch_to.frame(frame)
    wait.until(lambda d: d.execute_script("return document.body.dataset.chartsReady") == "true")
    counts = {
        element.get_attribute("data-count"): int(element.text)
        for element in browser.find_elements(By.CSS_SELECTOR, "[data-count]")
        if element.text.isdigit()
    }
    browser.switch_to.default_content()
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(screenshot))
    return counts


def test_browser_shows_the_campaign_of_the_example_run(
    api_server: ApiServer, example_run: str, browser: Any
) -> None:
    from urllib.parse import quote

    _log_in(browser, api_server.base_url, "admin")
    store = open_store(url=api_server.store_url)
    key = queries.campaign_of_task(store, DAG_ID, example_run, "send_reminders")
    assert key is not None
    funnel = campaign_funnel(store, key)
    summary = store.reports.summary(key)
    run_path = f"{api_server.base_url}/dags/{DAG_ID}/runs/{quote(example_run, safe='')}"
    counts = _plugin_frame_counts(
        browser,
        f"{run_path}/tasks/send_reminders/plugin/hbsms-campaign",
        SCREENSHOTS / "campaign-task-instance.png",
    )
    assert counts == {
        "rows": funnel.rows,
        "valid": funnel.valid,
        "sent": funnel.sent,
        "accepted": funnel.accepted,
        "delivered": summary.delivered,
        "failed": summary.failed,
        "pending": summary.pending,
        "unknown_batches": 0,
        "replies": funnel.replies,
        "opt_outs": funnel.opt_outs,
    }
    assert counts["rows"] == 40
    assert counts["replies"] >= 1
    run_counts = _plugin_frame_counts(
        browser, f"{run_path}/plugin/hbsms-run-campaigns", SCREENSHOTS / "campaign-dag-run.png"
    )
    assert run_counts == counts
    # The page alone, whole, as the frame shows it.
    browser.set_window_size(1280, 1000)
    browser.get(
        f"{api_server.base_url}/hbsms-campaigns/campaign?dag_id={DAG_ID}"
        f"&run_id={quote(example_run, safe='')}&task_id=send_reminders&map_index=-1"
    )
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 60).until(
        lambda d: d.execute_script("return document.body.dataset.chartsReady") == "true"
    )
    browser.save_screenshot(str(SCREENSHOTS / "campaign-page.png"))
