"""The report store: stored once each, folded into message statuses and campaign summaries."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from airflow_provider_hbsms.protocol import Report
from airflow_provider_hbsms.protocol.models import GATEWAY_TZ
from airflow_provider_hbsms.store import Store
from airflow_provider_hbsms.store.db import make_engine
from airflow_provider_hbsms.store.schema import reports, sent_messages
from tests.fixtures.threads import outcomes_together, run_together


def sent(store: Store, campaign: str, messages: list[tuple[str, str, int]], ext: str = "") -> None:
    """Record (msg_id, mobile, segments) in the ledger's message table, as a send would."""
    now = datetime.now(UTC)
    rows = [
        {
            "msg_id": msg_id,
            "mobile": mobile,
            "campaign_key": campaign,
            "batch_key": f"{campaign}-0",
            "ext": ext,
            "segments": segments,
            "sent_at": now,
        }
        for msg_id, mobile, segments in messages
    ]
    with store.engine.begin() as conn:
        conn.execute(sent_messages.insert(), rows)


def report(msg_id: str, mobile: str, sub_seq: int = 0, err: str = "0", desc: str = "") -> Report:
    return Report(mobile, msg_id, sub_seq, err, desc, None, "corp")


def _stored(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(reports)).scalar_one())


def test_add_keeps_each_report_once(any_store: Store) -> None:
    batch = [report(f"m{i}", f"1380000{i:04d}") for i in range(10)]
    assert any_store.reports.add(batch, source="pull") == 10
    assert any_store.reports.add(batch, source="push") == 0
    # A batch mixing new and already stored reports counts only the new ones.
    assert any_store.reports.add([*batch[:5], report("m99", "13900000000")], source="push") == 1
    assert _stored(any_store) == 11
    row = any_store.reports.rows_after(0, 1)[0]
    assert (row["source"], row["delivered"], row["corp_id"]) == ("pull", 1, "corp")


def test_add_rolls_back_with_the_callers_transaction(store: Store) -> None:
    def failing_unit_of_work() -> None:
        with store.engine.begin() as conn:
            store.reports.add([report("m1", "13800000001")], source="push", connection=conn)
            raise RuntimeError("the caller's work failed")

    with pytest.raises(RuntimeError):
        failing_unit_of_work()
    assert _stored(store) == 0


@pytest.mark.postgres
def test_concurrent_writers_store_each_report_once(pg_store: Store) -> None:
    """The gateway's re-push and a pull of the same reports racing: one row each."""
    batch = [report(f"m{i}", f"1380000{i:04d}") for i in range(300)]
    counts = run_together(lambda _: pg_store.reports.add(batch, source="push"), 4)
    assert sum(counts) == 300
    assert _stored(pg_store) == 300


def test_segments_fold_into_one_status(any_store: Store) -> None:
    sent(
        any_store,
        "c1",
        [
            ("whole", "13800000001", 1),
            ("long-ok", "13800000002", 3),
            ("long-partial", "13800000003", 3),
            ("long-failed", "13800000004", 3),
            ("summarised", "13800000005", 2),
            ("silent", "13800000006", 1),
        ],
    )
    any_store.reports.add(
        [
            report("whole", "13800000001"),
            *(report("long-ok", "13800000002", k) for k in (1, 2, 3)),
            report("long-partial", "13800000003", 1),
            report("long-partial", "13800000003", 2),
            report("long-failed", "13800000004", 1),
            report("long-failed", "13800000004", 3, "MK:0001", "blocked"),
            report("long-failed", "13800000004", 2, "UNDELIV", "absent"),
            report("summarised", "13800000005", 0),
        ],
        source="pull",
    )
    statuses = {s.msg_id: s for s in any_store.reports.message_statuses(campaign_key="c1")}
    assert {k: s.status for k, s in statuses.items()} == {
        "whole": "delivered",
        "long-ok": "delivered",
        "long-partial": "pending",
        "long-failed": "failed",
        "summarised": "delivered",
        "silent": "pending",
    }
    # The first failing segment (by sub_seq) gives the reason, not the first to arrive.
    assert (statuses["long-failed"].err, statuses["long-failed"].fail_desc) == (
        "UNDELIV",
        "absent",
    )
    assert (statuses["long-ok"].segments, statuses["long-ok"].reported) == (3, 3)
    summary = any_store.reports.summary(campaign_key="c1")
    assert (summary.total, summary.delivered, summary.failed, summary.pending) == (6, 3, 1, 2)
    assert summary.failed_by_reason == {"UNDELIV absent": 1}
    assert summary.delivered_fraction == 0.5
    assert not summary.is_final


def test_summary_by_msg_ids_and_final(any_store: Store) -> None:
    sent(any_store, "c1", [("a", "13800000001", 1), ("b", "13800000002", 1)])
    sent(any_store, "c2", [("c", "13800000003", 1)])
    any_store.reports.add(
        [report("a", "13800000001"), report("b", "13800000002", err="DB:0141")], source="push"
    )
    summary = any_store.reports.summary(msg_ids=["a", "b"])
    assert (summary.total, summary.delivered, summary.failed, summary.pending) == (2, 1, 1, 0)
    assert summary.is_final
    assert summary.as_dict()["failed_by_reason"] == {"DB:0141": 1}
    assert any_store.reports.summary(campaign_key="c2").pending == 1
    empty = any_store.reports.summary(campaign_key="nothing")
    assert (empty.total, empty.is_final, empty.delivered_fraction) == (0, False, 0.0)


def test_msg_ids_never_in_the_ledger_fold_their_reports(any_store: Store) -> None:
    sent(any_store, "c1", [("known", "13800000001", 1)])
    any_store.reports.add(
        [
            report("known", "13800000001"),
            report("foreign", "13800000002", 1),
            report("foreign", "13800000002", 2),
            report("foreign-bad", "13800000003", 0, "ID:0076", "no route"),
        ],
        source="pull",
    )
    wanted = ["known", "foreign", "foreign-bad", "unheard-of"]
    statuses = {s.msg_id: s for s in any_store.reports.message_statuses(msg_ids=wanted)}
    assert {k: s.status for k, s in statuses.items()} == {
        "known": "delivered",
        "foreign": "delivered",
        "foreign-bad": "failed",
        "unheard-of": "pending",
    }
    assert statuses["foreign"].reported == 2
    summary = any_store.reports.summary(msg_ids=wanted)
    assert (summary.total, summary.delivered, summary.failed, summary.pending) == (4, 2, 1, 1)
    assert summary.failed_by_reason == {"ID:0076 no route": 1}
    # By campaign, only what the ledger recorded counts.
    assert len(any_store.reports.message_statuses(campaign_key="c1")) == 1


def test_summary_of_a_large_campaign_is_computed_in_sql(store: Store) -> None:
    n = 20_000
    sent(store, "big", [(f"m{i}", f"13{i:09d}", 1) for i in range(n)])
    store.reports.add(
        [report(f"m{i}", f"13{i:09d}", err="0" if i % 10 else "E1") for i in range(n // 2)],
        source="pull",
    )
    summary = store.reports.summary(campaign_key="big")
    assert (summary.total, summary.delivered, summary.failed, summary.pending) == (
        n,
        n // 2 - n // 20,
        n // 20,
        n // 2,
    )
    assert summary.failed_by_reason == {"E1": n // 20}


def test_rows_after_pages_by_id(any_store: Store) -> None:
    any_store.reports.add([report(f"m{i}", "13800000001") for i in range(25)], source="pull")
    seen, watermark = [], 0
    while page := any_store.reports.rows_after(watermark, 10):
        seen.extend(row["msg_id"] for row in page)
        watermark = page[-1]["id"]
    assert seen == [f"m{i}" for i in range(25)]
    assert any_store.reports.rows_after(watermark, 10) == []


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_stores_opened_at_once_on_a_new_database(
    request: pytest.FixtureRequest, backend: str
) -> None:
    """Receiver workers starting together each create the tables: none of them fails."""
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")

    def open_and_write(n: int) -> None:
        engine = make_engine(url)
        Store(engine).reports.add([report(f"m{n}", "13800000001")], source="push")
        engine.dispose()

    outcomes = outcomes_together(open_and_write, 6)
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    engine = make_engine(url)
    assert _stored(Store(engine)) == 6
    engine.dispose()


def test_report_times_are_kept_in_utc(any_store: Store) -> None:
    china = datetime(2026, 1, 2, 8, 0, 0, tzinfo=GATEWAY_TZ)
    any_store.reports.add([Report("13800000001", "m1", 0, "0", "", china)], source="pull")
    stored = any_store.reports.rows_after(0, 1)[0]["report_time"]
    if stored.tzinfo is None:  # SQLite hands back naive UTC
        stored = stored.replace(tzinfo=UTC)
    assert stored == china
    assert stored.astimezone(UTC).hour == 0


@pytest.mark.postgres
def test_a_push_and_a_pull_deadlocking_on_postgres_both_land(pg_store: Store) -> None:
    """A push and a pull insert the same two reports in opposite orders: PostgreSQL aborts one
    transaction to break the deadlock, and that side runs again instead of losing its body."""
    first, second = report("m-a", "13800000001"), report("m-b", "13800000002")
    rows = [
        {
            "mobile": r.mobile,
            "msg_id": r.msg_id,
            "sub_seq": 0,
            "err": "0",
            "fail_desc": "",
            "delivered": 1,
            "corp_id": "corp",
            "received_at": datetime.now(UTC),
            "source": "pull",
        }
        for r in (first, second)
    ]
    other = pg_store.engine.connect()
    other_tx = other.begin()
    other.execute(reports.insert(), rows[1])  # holds m-b's key, uncommitted
    outcome: list[object] = []

    def push() -> None:  # takes m-a, then waits on m-b
        try:
            outcome.append(pg_store.reports.add([first, second], source="push"))
        except BaseException as exc:  # asserted below
            outcome.append(exc)

    thread = threading.Thread(target=push)
    thread.start()
    time.sleep(0.3)  # the push now waits on m-b
    other.execute(reports.insert(), rows[0])  # and this waits on m-a: a deadlock
    other_tx.commit()
    other.close()
    thread.join(timeout=30)
    assert outcome == [0]  # retried after the abort; both reports were the pull's by then
    with pg_store.engine.connect() as conn:
        stored = conn.execute(select(reports.c.msg_id).order_by(reports.c.msg_id)).scalars()
        assert list(stored) == ["m-a", "m-b"]


def test_summary_and_statuses_by_tens_of_thousands_of_msg_ids(store: Store) -> None:
    """A filter of 40,000 message ids, with a duplicate and an id the ledger never saw."""
    messages = [(f"big-{i}", f"139{i:08d}", 1) for i in range(40_000)]
    sent(store, "big", messages)
    store.reports.add([report(f"big-{i}", f"139{i:08d}") for i in range(0, 40_000, 2)], "pull")
    store.reports.add([report("big-1", "13900000001", err="DB:0140")], "pull")
    wanted = [m for m, _, _ in messages] + ["big-7", "not-ours"]  # a duplicate, an unknown id
    by_ids = store.reports.summary(msg_ids=wanted)
    assert (by_ids.total, by_ids.delivered, by_ids.failed) == (40_001, 20_000, 1)
    assert by_ids.failed_by_reason == {"DB:0140": 1}
    by_campaign = store.reports.summary(campaign_key="big")
    assert (by_campaign.total, by_campaign.delivered, by_campaign.failed) == (40_000, 20_000, 1)
    statuses = store.reports.message_statuses(msg_ids=wanted)
    assert len(statuses) == 40_001
    assert {s.msg_id for s in statuses if s.status == "failed"} == {"big-1"}
