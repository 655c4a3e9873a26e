"""The receiver as an Airflow API-server plugin: loaded by a default install, and its token
never in the API server's logs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from airflow_provider_hbsms.protocol import Report, build_reports_xml

TOKEN = "api-server-secret-token-7f3a9c"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.airflow_run
def test_the_token_never_reaches_the_api_server_log(tmp_path) -> None:
    home = tmp_path / "airflow-home"
    home.mkdir()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__HBSMS__RECEIVER_TOKEN": TOKEN,
        "AIRFLOW__HBSMS__STORE_URL": f"sqlite:///{tmp_path / 'store.db'}",
    }
    subprocess.run(
        [AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=600
    )
    port = _free_port()
    log_path = tmp_path / "api-server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}/hbsms"
    try:
        for _ in range(600):
            try:
                if requests.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None, log_path.read_text(errors="replace")[-3000:]
            time.sleep(0.5)
        else:
            pytest.fail("the API server did not serve the plugin: " + log_path.read_text()[-3000:])
        body = build_reports_xml([Report("13800000001", "api-1")])
        stored = requests.post(f"{base}/{TOKEN}/reports", data=body, timeout=30)
        assert (stored.status_code, stored.text) == (200, "0")
        near_miss = requests.post(f"{base}/{TOKEN[:-1]}/reports", data=body, timeout=30)
        assert near_miss.status_code == 404
        time.sleep(1)  # let the access log lines be written
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()
    logs = log_path.read_text(errors="replace") + "".join(
        p.read_text(errors="replace") for p in (home / "logs").rglob("*") if p.is_file()
    )
    assert "/hbsms/***/reports" in logs  # the pushes were logged ...
    assert TOKEN not in logs  # ... never with the token
    assert TOKEN[:-1] not in logs
