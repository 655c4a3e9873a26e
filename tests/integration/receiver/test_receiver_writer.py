"""The receiver's writer: pushes that arrive while a transaction commits share the next one,
each is answered only after that commit, and one bad body or a failed group costs no other
push its answer."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest
import requests
from sqlalchemy import func, select

from airflow_provider_hbsms.protocol import Report, build_reports_xml
from airflow_provider_hbsms.receiver import intake, writer
from airflow_provider_hbsms.receiver.app import ReceiverSettings
from airflow_provider_hbsms.store.reports import ReportStore
from airflow_provider_hbsms.store.schema import dead_letters, inbound, quarantine, reports
from tests.fixtures.receiver import TOKEN, ReceiverServer

if TYPE_CHECKING:
    from airflow_provider_hbsms.store import Store


def _body(start: int, n: int = 10) -> bytes:
    return build_reports_xml(
        [Report(f"138{i:08d}", f"w{i}", 0, "0", "", None, "test") for i in range(start, start + n)]
    )


def _rows(store: Store, table: object) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


class _HeldInserts:
    """Holds the first report insert until released, and counts inserts and their rows."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[int] = []
        self.entered, self.release = threading.Event(), threading.Event()
        original = ReportStore.insert_checked

        def insert_checked(store, connection, rows):  # type: ignore[no-untyped-def]
            self.calls.append(len(rows))
            if len(self.calls) == 1:
                self.entered.set()
                assert self.release.wait(10), "never released"
            return original(store, connection, rows)

        monkeypatch.setattr(ReportStore, "insert_checked", insert_checked)


def test_pushes_queued_behind_a_commit_share_one_transaction(
    any_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake, "CONCURRENT_WRITERS", 1)  # PostgreSQL: one writer, as SQLite
    held = _HeldInserts(monkeypatch)
    bad_item = (
        b'<?xml version="1.0" encoding="UTF-8"?><reports><report><mobile>13800000999</mobile>'
        b"<msg_id>ok-1</msg_id></report><report><mobile>13800000998</mobile>"
        b"<msg_id>bad</msg_id><sub_seq>99999999999999999999</sub_seq></report></reports>"
    )
    bodies = [_body(100 + 10 * i) for i in range(8)] + [b"<reports><report>", bad_item]
    with (
        ReceiverServer(ReceiverSettings(token=TOKEN, store_factory=lambda: any_store)) as url,
        ThreadPoolExecutor(len(bodies) + 1) as pool,
    ):
        first = pool.submit(requests.post, f"{url}/reports", data=_body(0), timeout=15)
        assert held.entered.wait(10)
        queued = [pool.submit(requests.post, f"{url}/reports", data=b, timeout=15) for b in bodies]
        time.sleep(0.5)  # every queued push has reached the writer's queue
        assert not first.done()
        assert not any(f.done() for f in queued)
        held.release.set()
        answers = [(r.status_code, r.text) for r in (f.result() for f in [first, *queued])]
    assert answers == [(200, "0")] * 9 + [(400, "9"), (200, "0")]
    # The first push alone, then the nine readable queued ones in one insert of all their rows.
    assert held.calls == [10, 81]
    assert _rows(any_store, reports) == 91
    assert _rows(any_store, dead_letters) == 1
    assert _rows(any_store, quarantine) == 1
    assert _rows(any_store, inbound) == 10  # every readable body kept raw (the other: above)


@pytest.mark.postgres
def test_on_postgres_a_transaction_waiting_on_the_server_holds_no_other_push_back(
    pg_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers: while one transaction is held, pushes behind it are stored and answered
    by the other; the held one is answered once it commits, and each report is stored once
    (the gateway's re-pushes included)."""
    bodies = [_body(100 + 10 * i) for i in range(6)]
    with (
        ReceiverServer(ReceiverSettings(token=TOKEN, store_factory=lambda: pg_store)) as url,
        ThreadPoolExecutor(len(bodies) + 1) as pool,
    ):
        # The first push opens the store with one writer; the next one is held.
        assert requests.post(f"{url}/reports", data=_body(900), timeout=15).text == "0"
        held = _HeldInserts(monkeypatch)
        first = pool.submit(requests.post, f"{url}/reports", data=_body(0), timeout=15)
        assert held.entered.wait(10)
        queued = [pool.submit(requests.post, f"{url}/reports", data=b, timeout=15) for b in bodies]
        answers = [(r.status_code, r.text) for r in (f.result() for f in queued)]
        assert not first.done()
        held.release.set()
        assert (first.result().status_code, first.result().text) == (200, "0")
        again = [requests.post(f"{url}/reports", data=b, timeout=15) for b in bodies[:2]]
    assert answers == [(200, "0")] * 6
    assert [(r.status_code, r.text) for r in again] == [(200, "0")] * 2
    assert _rows(pg_store, reports) == 80
    assert _rows(pg_store, inbound) == 10


def test_a_failed_group_answers_each_push_non_0_and_the_re_push_is_stored_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = _HeldInserts(monkeypatch)
    original = ReportStore.insert_checked
    failing = {"left": 1}

    def insert_checked(s, connection, rows):  # type: ignore[no-untyped-def]
        if len(held.calls) >= 1 and failing["left"] and len(rows) > 10:
            failing["left"] -= 1
            held.calls.append(len(rows))
            raise RuntimeError("database unavailable")
        return original(s, connection, rows)

    monkeypatch.setattr(ReportStore, "insert_checked", insert_checked)
    bodies = [_body(100 + 10 * i) for i in range(4)]
    with (
        ReceiverServer(ReceiverSettings(token=TOKEN, store_factory=lambda: store)) as url,
        ThreadPoolExecutor(len(bodies) + 1) as pool,
    ):
        first = pool.submit(requests.post, f"{url}/reports", data=_body(0), timeout=15)
        assert held.entered.wait(10)
        queued = [pool.submit(requests.post, f"{url}/reports", data=b, timeout=15) for b in bodies]
        time.sleep(0.5)
        held.release.set()
        assert (first.result().status_code, first.result().text) == (200, "0")
        assert [(f.result().status_code, f.result().text) for f in queued] == [(503, "9")] * 4
        assert _rows(store, reports) == 10  # nothing of the failed group was committed
        # The gateway pushes each again: stored once each.
        again = [requests.post(f"{url}/reports", data=b, timeout=15) for b in bodies * 2]
    assert [(r.status_code, r.text) for r in again] == [(200, "0")] * 8
    assert _rows(store, reports) == 50


def test_the_writer_thread_ends_when_idle_and_starts_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "IDLE_SECONDS", 0.2)

    def writers() -> int:
        return sum(t.name == "hbsms-push-writer" for t in threading.enumerate())

    with ReceiverServer(ReceiverSettings(token=TOKEN, store_factory=lambda: store)) as url:
        before = writers()
        assert requests.post(f"{url}/reports", data=_body(0), timeout=15).text == "0"
        assert writers() == before + 1
        deadline = time.monotonic() + 5
        while writers() > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writers() == before
        assert requests.post(f"{url}/reports", data=_body(10), timeout=15).text == "0"
    assert _rows(store, reports) == 20


def test_on_sqlite_report_pushes_are_stored_on_the_loop_once_the_store_is_open(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No hand-over to a thread for report pushes on SQLite while nothing holds the lock: the
    first push opens the store from the writer thread, the rest are stored where they arrive."""
    monkeypatch.setattr(writer, "IDLE_SECONDS", 0.2)
    handed: list[int] = []
    original = writer.PushWriter._to_thread

    def to_thread(self, pushes):  # type: ignore[no-untyped-def]
        handed.append(len(pushes))
        return original(self, pushes)

    monkeypatch.setattr(writer.PushWriter, "_to_thread", to_thread)
    with ReceiverServer(ReceiverSettings(token=TOKEN, store_factory=lambda: store)) as url:
        bodies = [_body(10 * i) for i in range(6)]
        answers = [requests.post(f"{url}/reports", data=b, timeout=15) for b in bodies]
    assert [a.text for a in answers] == ["0"] * 6
    assert handed == [1]  # only the first, which opened the store
    assert _rows(store, reports) == 60
