"""Delivery counters: the summary they give equals the summary recomputed from every message and
report, over random report streams (duplicates, reports before indexing, segments)."""

from __future__ import annotations

import random
import threading

import pytest
from sqlalchemy import select

from airflow_provider_hbsms.protocol import Report
from airflow_provider_hbsms.store import Store
from airflow_provider_hbsms.store.db import in_transaction, make_engine
from airflow_provider_hbsms.store.ledger import SendLedger
from airflow_provider_hbsms.store.schema import cursors, delivery_counts, delivery_state
from airflow_provider_hbsms.store.sent import SentColumns, expand

REASONS = [("0", ""), ("DELIVRD", ""), ("UNDELIV", "no such number"), ("EXPIRED", ""), ("", "")]


def _claim(
    store: Store, campaign: str, batch_no: int, messages: list[tuple[str, str, int]]
) -> None:
    SendLedger(store.engine).claim(
        batch_key=f"{campaign}-{batch_no}",
        campaign_key=campaign,
        batch_no=batch_no,
        endpoint="/hSmsSend.do",
        content_hash="h",
        submitted=len(messages),
        segments=sum(s for _, _, s in messages),
        messages=SentColumns.of([(m, mobile, "", s) for m, mobile, s in messages]),
    )


def _random_report(rng: random.Random, msg_id: str, mobile: str, segments: int) -> Report:
    sub_seq = 0 if segments == 1 or rng.random() < 0.3 else rng.randint(1, segments + 1)
    if rng.random() < 0.7:
        return Report(mobile, msg_id, sub_seq, "0", "", None, "corp")
    err, desc = rng.choice(REASONS[1:])
    return Report(mobile, msg_id, sub_seq, err, desc, None, "corp")


def _same(store: Store, campaigns: list[str]) -> None:
    for campaign in campaigns:
        counted = store.counters.summary(campaign)
        recomputed = store.reports.summary(campaign)
        assert counted == recomputed, campaign
    together = store.counters.summary(campaigns)
    assert together.total == sum(store.reports.summary(c).total for c in campaigns)


def _stream(store: Store, seed: int, steps: int = 60) -> list[str]:
    """Claims, reports (also for messages not claimed or not indexed yet, and again) and
    indexing, interleaved at random; the counters are compared at random moments."""
    rng = random.Random(seed)
    campaigns = ["camp-a", "camp-b"]
    planned: list[tuple[str, str, str, int, int]] = []  # campaign, msg_id, mobile, segs, batch
    for batch_no in range(8):
        campaign = campaigns[batch_no % 2]
        bulk = rng.random() < 0.5
        for i in range(rng.randint(1, 12)):
            msg_id = f"{campaign}-{batch_no}" if bulk else f"{campaign}-{batch_no}-{i}"
            mobile = f"139{batch_no:02d}{i:06d}"
            planned.append((campaign, msg_id, mobile, rng.randint(1, 3), batch_no))
    claimed: set[int] = set()
    stored: list[Report] = []
    for _ in range(steps):
        action = rng.random()
        if action < 0.2 and len(claimed) < 8:
            batch_no = rng.choice([b for b in range(8) if b not in claimed])
            claimed.add(batch_no)
            rows = [(m, mobile, s) for c, m, mobile, s, b in planned if b == batch_no]
            _claim(store, campaigns[batch_no % 2], batch_no, rows)
        elif action < 0.35:
            in_transaction(store.engine, lambda conn: expand(conn, page=1, pages=1))
        elif action < 0.9:
            chosen = rng.sample(planned, k=min(len(planned), rng.randint(1, 15)))
            batch = [_random_report(rng, m, mobile, s) for _, m, mobile, s, _ in chosen]
            if stored and rng.random() < 0.4:  # re-pushed or re-pulled reports
                batch += rng.sample(stored, k=min(len(stored), rng.randint(1, 10)))
            if rng.random() < 0.1:  # a report for a message no campaign sent
                batch.append(Report("13700000000", "stranger", 0, "0", "", None, "corp"))
            store.reports.add(batch, rng.choice(["push", "pull"]))
            stored += batch
        else:
            _same(store, campaigns)
    for batch_no in range(8):
        if batch_no not in claimed:
            rows = [(m, mobile, s) for c, m, mobile, s, b in planned if b == batch_no]
            _claim(store, campaigns[batch_no % 2], batch_no, rows)
    _same(store, campaigns)
    return campaigns


@pytest.mark.parametrize("seed", range(8))
def test_counted_summary_equals_the_recomputed_one(store: Store, seed: int) -> None:
    _stream(store, seed)


@pytest.mark.postgres
@pytest.mark.parametrize("seed", range(3))
def test_counted_summary_equals_the_recomputed_one_on_postgres(pg_store: Store, seed: int) -> None:
    _stream(pg_store, seed)


def test_a_failing_segment_after_a_delivered_message_moves_it(any_store: Store) -> None:
    _claim(any_store, "c", 0, [("m1", "13800000001", 2), ("m2", "13800000002", 1)])
    any_store.reports.add([Report("13800000001", "m1", 0, "0", "", None, "x")], "push")
    summary = any_store.counters.summary("c")
    assert (summary.total, summary.delivered, summary.pending) == (2, 1, 1)
    any_store.reports.add([Report("13800000001", "m1", 2, "EXPIRED", "", None, "x")], "push")
    any_store.reports.add([Report("13800000001", "m1", 1, "UNDELIV", "gone", None, "x")], "push")
    summary = any_store.counters.summary("c")
    assert (summary.delivered, summary.failed, summary.pending) == (0, 1, 1)
    # The lowest failing segment names the reason, whatever order the reports came in.
    assert summary.failed_by_reason == {"UNDELIV gone": 1}
    assert summary == any_store.reports.summary("c")


def test_reports_stored_concurrently_with_indexing_are_all_counted(pg_store: Store) -> None:
    """Reports pushed while readers index the same messages on PostgreSQL: each report is
    counted once, whichever transaction commits first."""
    rng = random.Random(7)
    messages = [(f"m{b}-{i}", f"1390{b:03d}{i:04d}", 1) for b in range(20) for i in range(30)]
    for b in range(20):
        _claim(pg_store, "race", b, messages[b * 30 : (b + 1) * 30])
    errors: list[BaseException] = []

    def push(part: list[tuple[str, str, int]]) -> None:
        try:
            for start in range(0, len(part), 10):
                pg_store.reports.add(
                    [
                        Report(
                            mobile, m, 0, "0" if rng.random() < 0.8 else "UNDELIV", "", None, "c"
                        )
                        for m, mobile, _ in part[start : start + 10]
                    ],
                    "push",
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def index() -> None:
        try:
            while in_transaction(pg_store.engine, lambda conn: expand(conn, page=1, pages=1)):
                pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    shuffled = messages[:]
    rng.shuffle(shuffled)
    threads = [threading.Thread(target=push, args=(shuffled[i::3],)) for i in range(3)]
    threads += [threading.Thread(target=index) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    counted = pg_store.counters.summary("race")
    assert counted == pg_store.reports.summary("race")
    assert counted.total == 600
    assert counted.pending == 0


def test_a_store_older_than_the_counters_is_counted_once(sqlite_url: str) -> None:
    """Messages and reports stored before the counters existed are counted on first use."""
    store = Store(make_engine(sqlite_url))
    _claim(store, "old", 0, [("o1", "13800000001", 1), ("o2", "13800000002", 1)])
    store.reports.add([Report("13800000001", "o1", 0, "UNDELIV", "", None, "x")], "push")
    store.reports.summary("old")  # indexed
    with store.engine.begin() as conn:  # as a store of an earlier build would be
        conn.execute(delivery_state.delete())
        conn.execute(delivery_counts.delete())
        conn.execute(cursors.delete())
    store.engine.dispose()
    reopened = Store(make_engine(sqlite_url))
    summary = reopened.counters.summary("old")
    assert (summary.total, summary.failed, summary.pending) == (2, 1, 1)
    assert summary.failed_by_reason == {"UNDELIV": 1}
    with reopened.engine.connect() as conn:
        assert conn.execute(select(cursors.c.position)).scalar_one() == 1
    reopened.engine.dispose()
