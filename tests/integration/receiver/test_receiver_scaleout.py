"""The push receiver scaled out: several ``hbsms-receiver`` processes on one PostgreSQL store.

Behind a load balancer the gateway's re-push of a body may reach another process than the
first push, at the same moment the first is still being stored. Every body here is pushed to
every process at once (and bodies overlap), and also pushed by the simulator through a
receiver that answers late, so its re-pushes race the first push. Each report and reply must be
stored exactly once, and every push answered ``0`` (or ``503``, which the gateway re-pushes).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select

from airflow_provider_hbsms.client import HbSmsClient
from airflow_provider_hbsms.protocol import Credentials, Report, build_reports_xml
from airflow_provider_hbsms.protocol.models import Reply
from airflow_provider_hbsms.protocol.xmlbuild import build_replies_xml
from airflow_provider_hbsms.store import open_store
from airflow_provider_hbsms.store.schema import replies, reports
from tests.fixtures.simulator import SIM_CORP_ID, SIM_PASSWORD, SIM_SERVICE, sim_account
from tests.fixtures.threads import run_together

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.postgres

TOKEN = "scale-out-token"
RECEIVER = str(Path(sys.executable).with_name("hbsms-receiver"))
PROCESSES = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def receivers(postgres_url: str, tmp_path: Path) -> Iterator[list[str]]:
    """``PROCESSES`` receiver processes on one store; their base URLs."""
    started: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for i in range(PROCESSES):
            port = _free_port()
            log = (tmp_path / f"receiver-{i}.log").open("wb")
            started.append(
                subprocess.Popen(
                    [
                        RECEIVER,
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--token",
                        TOKEN,
                        "--store-url",
                        postgres_url,
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        for url, process in zip(urls, started, strict=True):
            while True:
                assert process.poll() is None, (tmp_path / "receiver-0.log").read_text()
                try:
                    with urllib.request.urlopen(f"{url}/hbsms/health", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except (urllib.error.URLError, ConnectionError):
                    pass
                assert time.monotonic() < deadline, "receiver did not start"
                time.sleep(0.2)
        yield urls
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _push(url: str, body: bytes) -> str:
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.read().decode()
    except urllib.error.HTTPError as exc:
        return str(exc.code)


def _race(urls: list[str], kind: str, bodies: list[bytes], rounds: int = 2) -> list[str]:
    """Push every body to every process at the same moment, ``rounds`` times over."""
    answers: list[str] = []
    for _ in range(rounds):
        for body in bodies:
            answers += run_together(
                lambda i, body=body: _push(f"{urls[i]}/hbsms/{TOKEN}/{kind}", body), len(urls)
            )
    return answers


def test_racing_re_pushes_across_processes_store_each_report_once(receivers, postgres_url) -> None:
    when = datetime(2026, 11, 25, 10, 0, 0)
    all_reports = [
        Report(f"139{i:08d}", f"m-{i}", i % 3, "0" if i % 7 else "DB:0140", "", when)
        for i in range(600)
    ]
    # Bodies of 100 reports that overlap by 50: a report also arrives in another body.
    bodies = [build_reports_xml(all_reports[s : s + 100]) for s in range(0, 550, 50)]
    answers = _race(receivers, "reports", bodies)
    assert set(answers) <= {"0", "503"}, answers
    # The gateway pushes again what was not answered 0.
    assert all(_push(f"{receivers[0]}/hbsms/{TOKEN}/reports", b) == "0" for b in bodies)

    all_replies = [Reply(f"138{i:08d}", f"回复{i}", "66", when) for i in range(40)]
    reply_bodies = [build_replies_xml(all_replies[s : s + 10]) for s in range(0, 35, 5)]
    answers = _race(receivers, "replies", reply_bodies)
    assert set(answers) <= {"0", "503"}, answers
    assert all(_push(f"{receivers[1]}/hbsms/{TOKEN}/replies", b) == "0" for b in reply_bodies)

    store = open_store(url=postgres_url)
    with store.engine.connect() as conn:
        stored = conn.execute(select(reports.c.mobile, reports.c.msg_id, reports.c.sub_seq)).all()
        stored_replies = conn.execute(select(func.count()).select_from(replies)).scalar_one()
    assert len(stored) == len(set(stored)) == 600
    assert set(stored) == {(r.mobile, r.msg_id, r.sub_seq) for r in all_reports}
    assert stored_replies == 40


def test_simulator_re_pushes_race_across_processes(
    receivers, postgres_url, simulator_factory, tmp_path
) -> None:
    """The simulator pushes to one process through a proxy that answers after the push timeout
    (the first push is stored, but the gateway hears nothing) and sends each re-push to the next
    process: the same body lands in every process, stored once."""
    import http.server

    targets = iter(range(1_000_000))

    class SlowBalancer(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            url = receivers[next(targets) % len(receivers)] + self.path
            answer = _push(url, body)
            time.sleep(1.2)  # longer than the gateway waits: it pushes again
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer.encode())

        def log_message(self, *args: object) -> None:
            pass

    balancer = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowBalancer)
    thread = threading.Thread(target=balancer.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{balancer.server_address[1]}/hbsms/{TOKEN}/reports"
        simulator = simulator_factory(
            accounts=[sim_account(report_push_url=url)],
            push_timeout=0.5,
            push_retries=3,
            push_interval=0.2,
        )
        numbers = [f"137{i:08d}" for i in range(250)]
        _send(simulator, numbers, tmp_path)
        # 3 bodies (100, 100, 50 reports), each pushed 4 times: once and 3 re-pushes.
        deadline = time.monotonic() + 90
        while len([p for p in simulator.push_log() if p.kind == "reports"]) < 12:
            assert time.monotonic() < deadline, simulator.push_log()
            time.sleep(0.5)
        attempts = [p for p in simulator.push_log() if p.kind == "reports"]
        assert max(p.attempt for p in attempts) == 4
        store = open_store(url=postgres_url)
        with store.engine.connect() as conn:
            stored = conn.execute(select(reports.c.mobile, reports.c.msg_id)).all()
        assert len(stored) == len(set(stored)) == 250
        assert {m for m, _ in stored} == set(numbers)
    finally:
        balancer.shutdown()
        balancer.server_close()


def _send(simulator, numbers: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Send ``numbers`` one text through the simulator, so that it reports them."""
    client = HbSmsClient(
        simulator.base_url,
        Credentials(SIM_CORP_ID, SIM_PASSWORD, SIM_SERVICE),
        pacing_dir=tmp_path / "pacing",
    )
    for start in range(0, len(numbers), 200):
        client.send(numbers[start : start + 200], "通知", corp_msg_id=f"scale-{start}")
