"""Delivery counters: each campaign's sent, delivered and failed-by-reason counts, kept up to
date as messages are indexed and reports are stored, in the same transactions.

A summary then reads a handful of rows, whatever the campaign's size; the per-message
statuses stay in ``hbsms_reports`` and ``hbsms_sent_messages`` for loading and drill-down
(``ReportStore.message_statuses``) and for recomputing a summary (``ReportStore.summary``).

How a message folds is ``ReportStore``'s rule, unchanged: ``failed`` once any segment failed
(the reason is the lowest failing segment's ``err fail_desc``), ``delivered`` once a whole-message
report (``sub_seq`` 0) or every segment says so, else ``pending``. Folding is done again from the
stored reports each time a message's reports change, and counters move by the difference from
the message's last fold (``hbsms_delivery_state``): a report stored twice, a report that
arrives before its message is indexed, a failing segment that arrives after a delivered one,
all end in the counts a recomputation gives.

Two writers meet on one message when a report is stored while its message is being indexed.
SQLite runs one write transaction at a time. On PostgreSQL both take a transaction-scoped
advisory lock on the message's msg_id (in one of 64 buckets, in bucket order) before reading:
whichever comes second sees what the first committed.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from airflow_provider_hbsms.store.chunks import in_chunks
from airflow_provider_hbsms.store.folds import (
    PENDING_FOLD,
    SENT,
    Deltas,
    Fold,
    MessageKey,
    fold,
    save_states,
)
from airflow_provider_hbsms.store.recount import ensure_counted
from airflow_provider_hbsms.store.schema import delivery_state, reports, sent_messages

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from sqlalchemy import Connection

#: Advisory-lock class of the counters (PostgreSQL), and how many msg_id buckets it locks.
_LOCK_CLASS = 0x4842_5343  # "HBSC"
_BUCKETS = 64


def _lock(conn: Connection, msg_ids: Iterable[str]) -> None:
    """PostgreSQL: lock the msg_ids' buckets until the transaction ends, in bucket order."""
    if conn.dialect.name != "postgresql":
        return
    buckets = sorted({zlib.crc32(m.encode()) % _BUCKETS for m in msg_ids})
    if buckets:
        # Taking ROW EXCLUSIVE first waits for a first-time count (EXCLUSIVE) to commit.
        conn.exec_driver_sql(f"LOCK TABLE {delivery_state.name} IN ROW EXCLUSIVE MODE")
        conn.exec_driver_sql(
            "SELECT count(pg_advisory_xact_lock(%s, b)) FROM unnest(%s::int[]) AS b",
            (_LOCK_CLASS, buckets),
        )



def _by_msg_id(
    conn: Connection, query: str, msg_ids: Sequence[str], column: str = "msg_id"
) -> list[tuple[Any, ...]]:
    """Rows of ``query`` (a SELECT without WHERE) whose ``column`` is one of these msg_ids,
    through the msg_id index (a ``(msg_id, mobile) IN`` list makes SQLite scan the table).
    Straight to the driver, as tuples: a compiled IN list of hundreds of values, and result
    rows built by SQLAlchemy, cost more than the lookup."""
    if not msg_ids:
        return []
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if conn.dialect.name == "postgresql":
            cursor.execute(f"{query} WHERE {column} = ANY(%s)", (list(msg_ids),))
            return list(cursor.fetchall())
        rows: list[tuple[Any, ...]] = []
        for chunk in in_chunks(msg_ids):
            part = tuple(chunk)
            cursor.execute(f"{query} WHERE {column} IN ({', '.join('?' * len(part))})", part)
            rows += cursor.fetchall()
        return rows
    finally:
        cursor.close()



def refold(conn: Connection, keys: Iterable[MessageKey], deltas: Deltas | None = None) -> None:
    """Fold these messages again from their reports and move their campaigns' counters by the
    difference (and by ``deltas``), in the caller's transaction. Messages not indexed yet are
    left to indexing."""
    wanted = set(keys)
    deltas = deltas or Deltas()
    if not wanted:
        deltas.write(conn)
        return
    ensure_counted(conn)
    msg_ids = sorted({m for m, _ in wanted})
    _lock(conn, msg_ids)
    # Each indexed message wanted, with its last fold (none: pending).
    known: dict[MessageKey, tuple[str, int, Fold]] = {}
    for msg_id, mobile, campaign_key, segments, status, reason in _by_msg_id(
        conn,
        f"SELECT s.msg_id, s.mobile, s.campaign_key, s.segments, d.status, d.reason "
        f"FROM {sent_messages.name} s LEFT JOIN {delivery_state.name} d "
        "ON d.msg_id = s.msg_id AND d.mobile = s.mobile",
        msg_ids,
        "s.msg_id",
    ):
        key = (msg_id, mobile)
        if key in wanted:
            old = Fold(status, reason) if status else PENDING_FOLD
            known[key] = (campaign_key, segments, old)
    if known:
        found: dict[MessageKey, list[tuple[int, int, str, str]]] = defaultdict(list)
        for msg_id, mobile, sub_seq, delivered, err, desc in _by_msg_id(
            conn,
            f"SELECT msg_id, mobile, sub_seq, delivered, err, fail_desc FROM {reports.name}",
            sorted({m for m, _ in known}),
        ):
            key = (msg_id, mobile)
            if key in known:
                found[key].append((sub_seq, delivered, err, desc))
        changed = []
        for key in sorted(known):
            campaign_key, segments, old = known[key]
            new = fold(segments, found.get(key, ()))
            if new != old:
                deltas.move(campaign_key, old, new)
                changed.append((*key, campaign_key, new.status, new.reason))
        save_states(conn, changed)
    deltas.write(conn)



def count_reports(conn: Connection, keys: Iterable[tuple[str, str]]) -> None:
    """After reports are stored in this transaction: fold their messages (``(msg_id,
    mobile)`` of each report) again and move the counters."""
    refold(conn, list(keys))



def count_indexed(
    conn: Connection,
    rows: Sequence[tuple[Any, ...]],
    insert: Callable[[Connection, Sequence[tuple[Any, ...]]], int],
) -> None:
    """Index messages (``hbsms_sent_messages`` rows: msg_id, mobile, ..., campaign_key at
    index 5) through ``insert`` (which returns how many were new) and count them: each
    campaign's new messages, and the folds of those that have reports already."""
    ensure_counted(conn)
    by_campaign: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        by_campaign[row[5]].append(row)
    deltas = Deltas()
    for campaign_key, group in sorted(by_campaign.items()):
        deltas.add(campaign_key, SENT, "", insert(conn, group))
    keys = [(row[0], row[1]) for row in rows]
    msg_ids = sorted({key[0] for key in keys})
    # Locked before reports are looked up: a report stored meanwhile is seen here, or its
    # writer (locking after this transaction ends) sees these messages.
    _lock(conn, msg_ids)
    # Most messages are indexed before any report arrives: find those that have one.
    page = set(keys)
    reported = {
        (msg_id, mobile)
        for msg_id, mobile in _by_msg_id(
            conn, f"SELECT msg_id, mobile FROM {reports.name}", msg_ids
        )
        if (msg_id, mobile) in page
    }
    refold(conn, [key for key in keys if key in reported], deltas)

