"""The receiver never blocks on the database: with the SQLite store write-locked by another
process for 25 s, ``/health`` answers within 1 s and every push within the gateway's 20 s
(non-``0`` while nothing can be committed); the gateway's re-pushes store the body once the
lock is gone."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import requests

from airflow_provider_hbsms.protocol import Reply, Report, build_reports_xml
from airflow_provider_hbsms.protocol.xmlbuild import build_replies_xml
from airflow_provider_hbsms.receiver.app import ReceiverSettings, standalone_app
from tests.fixtures.receiver import TOKEN, ReceiverServer, count_reports
from tests.fixtures.simulator import SIM_CORP_ID, sim_account

if TYPE_CHECKING:
    from airflow_provider_hbsms.store import Store

LOCK_SECONDS = 25.0
_LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
db.execute("INSERT INTO hbsms_cursors (name, position, updated_at) VALUES ('x', 1, '2026')")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


def _reports(prefix: str, n: int) -> list[Report]:
    return [Report(f"1350000{i:04d}", f"{prefix}-{i}", 0, "0", "", None, "test") for i in range(n)]


def test_store_locked_25s_health_within_1s_pushes_within_20s(
    store: Store, simulator_factory
) -> None:
    settings = ReceiverSettings(token=TOKEN, store_factory=lambda: store)
    database = store.engine.url.database
    with ReceiverServer(settings, app=standalone_app(settings)) as url:
        health_url = url.replace(f"/{TOKEN}", "/health")
        # Open the store (first push) before the lock is taken, as a running receiver would be.
        assert (
            requests.post(f"{url}/reports", data=build_reports_xml(_reports("warm", 1))).text == "0"
        )
        sim = simulator_factory(
            accounts=[sim_account(report_push_url=f"{url}/reports")],
            push_timeout=20.0,
            push_retries=3,
            push_interval=2.0,
        )
        locker = subprocess.Popen(
            [sys.executable, "-c", _LOCKER, str(database), str(LOCK_SECONDS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert locker.stdout is not None
        assert locker.stdout.readline().strip() == "locked"
        locked_at = time.monotonic()
        # The gateway pushes a body now, with its own retry policy.
        sim.queue_reports(_reports("gateway", 100), SIM_CORP_ID)

        health_times: list[float] = []
        stop = threading.Event()

        def watch_health() -> None:
            while not stop.is_set():
                started = time.monotonic()
                answer = requests.get(health_url, timeout=5)
                health_times.append(time.monotonic() - started)
                assert answer.status_code == 200
                time.sleep(0.2)

        def push(n: int) -> tuple[float, str]:
            started = time.monotonic()
            if n % 3 == 2:
                body = build_replies_xml([Reply(f"1350001{n:04d}", "hi", "")])
                answer = requests.post(f"{url}/replies", data=body, timeout=30)
            else:
                answer = requests.post(
                    f"{url}/reports", data=build_reports_xml(_reports(f"p{n}", 50)), timeout=30
                )
            return time.monotonic() - started, answer.text

        watcher = threading.Thread(target=watch_health)
        watcher.start()
        with ThreadPoolExecutor(8) as pool:
            answered = list(pool.map(push, range(8)))
        assert time.monotonic() - locked_at < LOCK_SECONDS  # they were all answered under lock
        locker.wait(timeout=LOCK_SECONDS + 10)
        # After the lock: the gateway's re-push is stored.
        deadline = time.monotonic() + 40
        while not any(a.outcome == "ok" for a in sim.push_log()) and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        watcher.join()
    assert max(health_times) < 1.0, max(health_times)
    assert all(seconds < 20.0 for seconds, _ in answered), answered
    assert all(text == "9" for _, text in answered), answered  # nothing committed: not 0
    log = sim.push_log()
    assert [a.outcome == "ok" for a in log][-1], log
    assert all(a.at - log[0].at < 60 for a in log)
    assert count_reports(store) == 101
