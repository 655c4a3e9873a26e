"""The push receiver served for real: reports stored while a reply waits, the simulator's
re-pushes stored once, nothing acknowledged lost to a SIGKILL, overlapping pushes on
PostgreSQL (the app's rules in process are in tests/unit/receiver/test_app.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from airflow_provider_hbsms.protocol import Report, build_reports_xml
from airflow_provider_hbsms.protocol.models import Reply
from airflow_provider_hbsms.protocol.xmlbuild import build_replies_xml
from airflow_provider_hbsms.receiver.app import ReceiverSettings
from airflow_provider_hbsms.store import Store, open_store
from airflow_provider_hbsms.store.schema import reports
from tests.fixtures.database import claimed
from tests.fixtures.receiver import TOKEN, ReceiverServer, count_reports
from tests.fixtures.simulator import SIM_CREDENTIALS, sim_account


def _reports(n: int, start: int = 0) -> list[Report]:
    return [
        Report(f"138{i:08d}", f"m{i}", 0, "0", "", None, "test") for i in range(start, start + n)
    ]


class _FlakyStore:
    """Makes the first report insert of every store slow (past the pusher's timeout) or fail."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
        from airflow_provider_hbsms.store.reports import ReportStore

        self.mode, self.calls = mode, 0
        original = ReportStore.insert_checked

        def insert_checked(store, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.calls += 1
            if self.calls == 1 and self.mode == "fail":
                raise RuntimeError("database unavailable")
            if self.calls == 1 and self.mode == "slow":
                time.sleep(1.0)
            return original(store, *args, **kwargs)

        monkeypatch.setattr(ReportStore, "insert_checked", insert_checked)


def test_reports_are_stored_while_a_reply_waits_for_indexing(store, monkeypatch) -> None:
    """The first reply after a campaign nobody has read indexes the campaign before it can be
    attributed; report pushes are answered meanwhile (indexing runs outside the writer that
    stores pushes)."""
    from airflow_provider_hbsms.store import sent

    claimed(store, "unread", batches=2, size=3, ext="5")
    indexing, release = threading.Event(), threading.Event()
    real_expand = sent.expand

    def slow_expand(*args, **kwargs):  # type: ignore[no-untyped-def]
        indexing.set()
        assert release.wait(10), "never released"
        return real_expand(*args, **kwargs)

    monkeypatch.setattr(sent, "expand", slow_expand)
    with ReceiverServer(ReceiverSettings(token=TOKEN, store_factory=lambda: store)) as url:
        replied: list[requests.Response] = []
        reply_body = build_replies_xml([Reply("13100000001", "TD", "5")])
        replier = threading.Thread(
            target=lambda: replied.append(
                requests.post(f"{url}/replies", data=reply_body, timeout=15)
            )
        )
        replier.start()
        assert indexing.wait(10)
        # The reply is still indexing: a report push is answered and stored all the same.
        answer = requests.post(f"{url}/reports", data=build_reports_xml(_reports(50)), timeout=5)
        assert (answer.status_code, answer.text, count_reports(store)) == (200, "0", 50)
        assert not replied
        release.set()
        replier.join(10)
    assert (replied[0].status_code, replied[0].text) == (200, "0")
    (reply,) = store.replies.find()
    assert (reply.campaign_key, reply.msg_id) == ("unread", "unread-1-1")


@pytest.mark.parametrize("mode", ["slow", "fail"])
def test_simulator_pushes_with_retries_each_report_stored_once(
    simulator_factory, store, mode, monkeypatch
) -> None:
    _FlakyStore(monkeypatch, mode)
    with ReceiverServer(ReceiverSettings(token=TOKEN, store_factory=lambda: store)) as url:
        sim = simulator_factory(
            accounts=[sim_account(report_push_url=f"{url}/reports")],
            push_timeout=0.3,
            push_interval=0.05,
        )
        from airflow_provider_hbsms.protocol import PersonalizedItem, build_personalized_body

        items = [PersonalizedItem(f"137{i:08d}", f"p{i}", "hi") for i in range(150)]
        requests.post(
            sim.base_url + "/hSmsSend.do", data=build_personalized_body(SIM_CREDENTIALS, items)
        )
        deadline = time.monotonic() + 15
        while sum(a.outcome == "ok" for a in sim.push_log()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.2)  # let a slow first attempt finish its commit
    log = sim.push_log()
    assert any(a.attempt > 1 for a in log)  # the gateway did re-push
    assert count_reports(store) == 150
    with store.engine.connect() as conn:
        keys = [(r.mobile, r.msg_id, r.sub_seq) for r in conn.execute(reports.select())]
    assert len(set(keys)) == len(keys) == 150


def test_sigkill_mid_stream_loses_nothing_acknowledged(tmp_path) -> None:
    """Every report the receiver answered 0 for is in the store after a SIGKILL and restart."""
    db = tmp_path / "receiver.db"
    url = f"sqlite:///{db}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "airflow_provider_hbsms.receiver.cli",
        "--port",
        str(port),
        "--token",
        TOKEN,
        "--store-url",
        url,
    ]

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                requests.get(f"http://127.0.0.1:{port}/hbsms/health", timeout=0.5)
                return process
            except requests.ConnectionError:
                time.sleep(0.05)
        process.kill()
        raise AssertionError("receiver did not start")

    acknowledged: set[str] = set()
    stop = threading.Event()

    def push() -> None:
        session = requests.Session()
        n = 0
        while not stop.is_set():
            batch = _reports(50, n)
            n += 50
            try:
                reply = session.post(
                    f"http://127.0.0.1:{port}/hbsms/{TOKEN}/reports",
                    data=build_reports_xml(batch),
                    timeout=5,
                )
            except requests.RequestException:
                continue
            if reply.text == "0":
                acknowledged.update(r.msg_id for r in batch)

    process = start()
    pusher = threading.Thread(target=push)
    pusher.start()
    while len(acknowledged) < 2000:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    stop.set()
    pusher.join()
    process = start()
    try:
        with open_store(url=url).engine.connect() as conn:
            stored = {r.msg_id for r in conn.execute(reports.select())}
    finally:
        process.terminate()
        process.wait()
    assert len(acknowledged) >= 2000
    assert acknowledged - stored == set()
    assert Path(db).exists()


@pytest.mark.postgres
def test_on_postgres_concurrent_overlapping_pushes_are_stored_once(pg_store: Store) -> None:
    """On PostgreSQL pushes are stored from worker threads, concurrently: overlapping bodies
    pushed at once (the gateway's re-pushes of a slow answer) are all answered 0, stored once."""
    from airflow_provider_hbsms.receiver.app import standalone_app

    settings = ReceiverSettings(token=TOKEN, store_factory=lambda: pg_store)
    bodies = [build_reports_xml(_reports(100, start)) for start in (0, 50, 100, 0, 150, 50)]
    with ReceiverServer(settings, app=standalone_app(settings)) as url:

        def push(body: bytes) -> str:
            return requests.post(f"{url}/reports", data=body, timeout=30).text

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(push, bodies))
        replies = build_replies_xml([Reply("13800000001", "TD", "")])
        assert requests.post(f"{url}/replies", data=replies, timeout=30).text == "0"
    assert answers == ["0"] * 6
    assert count_reports(pg_store) == 250
    assert pg_store.opt_outs.all() == {"13800000001"}
