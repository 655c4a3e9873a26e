"""The push receiver: store first, then 0; idempotent under re-pushes; refuses what it must."""

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
from fastapi.testclient import TestClient

from airflow_provider_hbsms.protocol import Report, build_reports_xml
from airflow_provider_hbsms.protocol.models import Reply
from airflow_provider_hbsms.protocol.xmlcodec import build_replies_xml
from airflow_provider_hbsms.receiver.app import ReceiverSettings, create_app, mounted
from airflow_provider_hbsms.store import Store, open_store
from airflow_provider_hbsms.store.schema import dead_letters, quarantine, reports
from tests.fixtures.database import claimed
from tests.fixtures.receiver import TOKEN, ReceiverServer, count_reports
from tests.fixtures.simulator import SIM_CREDENTIALS, sim_account

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<reports><report><mobile>13800000000</mobile><msg_id>&lol3;</msg_id></report></reports>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<reports><report><mobile>13800000000</mobile><msg_id>&xxe;</msg_id></report></reports>"""


def _reports(n: int, start: int = 0) -> list[Report]:
    return [
        Report(f"138{i:08d}", f"m{i}", 0, "0", "", None, "test") for i in range(start, start + n)
    ]


@pytest.fixture
def client(store: Store) -> TestClient:
    settings = ReceiverSettings(token=TOKEN, store_factory=lambda: store)
    return TestClient(mounted(create_app(settings)))


def test_stores_then_answers_0_and_is_idempotent(client, store) -> None:
    body = build_reports_xml(_reports(100))
    for _ in range(3):  # the gateway's re-pushes
        response = client.post(f"/hbsms/{TOKEN}/reports", content=body)
        assert (response.status_code, response.text) == (200, "0")
    assert count_reports(store) == 100
    replies = build_replies_xml([Reply("13800000001", "退订", "12"), Reply("13800000002", "好")])
    assert client.post(f"/hbsms/{TOKEN}/replies", content=replies).text == "0"
    assert store.opt_outs.all() == {"13800000001"}
    assert client.get("/hbsms/health").json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (BILLION_LAUGHS, 400),
        (EXTERNAL_ENTITY, 400),
        (b"not xml at all", 400),
        (b"<other/>", 400),
        (b"<reports>" + b" " * (1024 * 1024 + 1) + b"</reports>", 413),
    ],
    ids=["billion-laughs", "external-entity", "not-xml", "wrong-shape", "too-large"],
)
def test_refuses_bad_bodies_and_keeps_serving(client, store, body, status) -> None:
    response = client.post(f"/hbsms/{TOKEN}/reports", content=body)
    assert (response.status_code, response.text) == (status, "9")
    good = client.post(f"/hbsms/{TOKEN}/reports", content=build_reports_xml(_reports(1)))
    assert good.text == "0"
    assert count_reports(store) == 1


def test_an_unreadable_item_is_quarantined_and_the_body_answered_0(client, store) -> None:
    """A report without msg_id cannot be stored: it is quarantined with its reason (once,
    however often the gateway pushes it), the body's other reports are stored."""
    body = (
        b"<reports><report><mobile>1</mobile></report>"
        b"<report><mobile>13800000009</mobile><msg_id>ok-1</msg_id></report></reports>"
    )
    for _ in range(2):
        assert client.post(f"/hbsms/{TOKEN}/reports", content=body).text == "0"
    assert count_reports(store) == 1
    with store.engine.connect() as conn:
        held = [(r.reason, r.fragment) for r in conn.execute(quarantine.select())]
    assert held == [
        ("a <report> lacks <mobile> or <msg_id>", "<report><mobile>1</mobile></report>")
    ]


def test_malformed_and_unsafe_bodies_are_kept_once_as_dead_letters(client, store) -> None:
    for body in (b"<reports><report>", BILLION_LAUGHS, EXTERNAL_ENTITY):
        for _ in range(3):  # the gateway pushes a refused body again
            assert client.post(f"/hbsms/{TOKEN}/reports", content=body).text == "9"
    with store.engine.connect() as conn:
        kept = [(r.body, r.error) for r in conn.execute(dead_letters.select())]
    assert [body for body, _ in kept] == [b"<reports><report>", BILLION_LAUGHS, EXTERNAL_ENTITY]
    assert kept[0][1].startswith("MalformedXmlError: malformed")
    assert all(error.startswith("UnsafeXmlError:") for _, error in kept[1:])


def test_token_and_allowlist(store) -> None:
    settings = ReceiverSettings(
        token=TOKEN, store_factory=lambda: store, allowed_ips=["10.0.0.0/8"]
    )
    client = TestClient(mounted(create_app(settings)))
    body = build_reports_xml(_reports(1))
    wrong_token = client.post("/hbsms/wrong/reports", content=body)
    wrong_address = client.post(f"/hbsms/{TOKEN}/reports", content=body)
    # One answer for both refusals: the answer never tells whether the token was right.
    assert (wrong_token.status_code, wrong_token.text) == (404, "9")
    assert (wrong_address.status_code, wrong_address.text) == (404, "9")
    no_token = TestClient(
        mounted(create_app(ReceiverSettings(token="", store_factory=lambda: store)))
    )
    assert no_token.post("/hbsms//reports", content=body).status_code in (404, 405)
    assert count_reports(store) == 0


class _FlakyStore:
    """Makes the first report insert of every store slow (past the pusher's timeout) or fail."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
        from airflow_provider_hbsms.store.reports import ReportStore

        self.mode, self.calls = mode, 0
        original = ReportStore.add_read

        def add_read(store, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.calls += 1
            if self.calls == 1 and self.mode == "fail":
                raise RuntimeError("database unavailable")
            if self.calls == 1 and self.mode == "slow":
                time.sleep(1.0)
            return original(store, *args, **kwargs)

        monkeypatch.setattr(ReportStore, "add_read", add_read)


def test_reports_are_stored_while_a_reply_waits_for_indexing(store, monkeypatch) -> None:
    """The first reply after a campaign nobody has read indexes the campaign before it can be
    attributed; report pushes are answered meanwhile (SQLite, where reports are stored on the
    event loop)."""
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


def test_comments_cdata_and_undeclared_entities(client, store) -> None:
    """Comments and CDATA are read (by the hardened parser); an entity nobody declared is
    refused, and the predefined ones are expanded."""
    with_markup = (
        b"<reports><!-- pushed --><report><mobile>13800000001</mobile>"
        b"<msg_id><![CDATA[a<1>]]></msg_id><err>0</err></report></reports>"
    )
    assert client.post(f"/hbsms/{TOKEN}/reports", content=with_markup).text == "0"
    undeclared = b"<reports><report><mobile>1</mobile><msg_id>&boom;</msg_id></report></reports>"
    assert client.post(f"/hbsms/{TOKEN}/reports", content=undeclared).status_code == 400
    predefined = (
        b"<reports><report><mobile>13800000002</mobile><msg_id>b&amp;c</msg_id></report></reports>"
    )
    assert client.post(f"/hbsms/{TOKEN}/reports", content=predefined).text == "0"
    with store.engine.connect() as conn:
        stored = {r.msg_id for r in conn.execute(reports.select())}
    assert stored == {"a<1>", "b&c"}


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
