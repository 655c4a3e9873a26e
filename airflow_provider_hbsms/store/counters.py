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

import hashlib
import weakref
import zlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, select

from airflow_provider_hbsms.store.reports import DELIVERED, FAILED, PENDING, DeliverySummary
from airflow_provider_hbsms.store.schema import (
    cursors,
    delivery_counts,
    delivery_state,
    reports,
    sent_messages,
)
from airflow_provider_hbsms.store.sent import expand_pending
from airflow_provider_hbsms.store.upsert import insert_ignore_values, stored_time

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from sqlalchemy import Connection, Engine

#: The counters' kinds (``hbsms_delivery_counts.status``): messages indexed, and folded states.
SENT = "sent"
#: Advisory-lock class of the counters (PostgreSQL), and how many msg_id buckets it locks.
_LOCK_CLASS = 0x4842_5343  # "HBSC"
_BUCKETS = 64
#: msg_ids per ``IN``: within SQLite's oldest limit of 999 variables.
_MSG_IDS = 900
#: Marks (in ``hbsms_cursors``) a store whose counters cover every message; older stores are
#: counted once from their reports when the counters are first used.
_MARKER = "hbsms.delivery_counters"
_VERSION = 1

MessageKey = tuple[str, str]
_Counter = tuple[str, str, str]  # campaign_key, status, reason
#: Engines whose counters are known to be complete (checked once per process).
_ready: weakref.WeakSet[Engine] = weakref.WeakSet()


@dataclass(frozen=True, slots=True)
class _Fold:
    status: str
    reason: str = ""


_DELIVERED, _PENDING = _Fold(DELIVERED), _Fold(PENDING)


def reason_text(err: str, fail_desc: str) -> str:
    """How a failure is named in a summary: ``err fail_desc``, or ``unknown``."""
    return " ".join(p for p in (err, fail_desc) if p).strip() or "unknown"


def _reason_key(reason: str) -> str:
    return hashlib.sha256(reason.encode()).hexdigest()[:16] if reason else ""


def fold(segments: int, rows: Iterable[tuple[int, int, str, str]]) -> _Fold:
    """One message's status from its reports, each ``(sub_seq, delivered, err, fail_desc)``:
    the rule ``ReportStore`` folds by."""
    first_failure: tuple[int, int, str, str] | None = None
    whole_ok = False
    parts: set[int] = set()
    for row in rows:
        sub_seq, delivered = row[0], row[1]
        if not delivered:
            if first_failure is None or sub_seq < first_failure[0]:
                first_failure = row
        elif sub_seq == 0:
            whole_ok = True
        else:
            parts.add(sub_seq)
    if first_failure is not None:
        return _Fold(FAILED, reason_text(first_failure[2], first_failure[3]))
    if whole_ok or (parts and len(parts) >= segments):
        return _DELIVERED
    return _PENDING


class _Deltas:
    """Counter changes gathered in one transaction, written at its end in key order (so two
    transactions never wait on each other's counter rows in opposite orders)."""

    def __init__(self) -> None:
        self.changes: dict[_Counter, int] = defaultdict(int)

    def add(self, campaign_key: str, status: str, reason: str, n: int) -> None:
        if status != PENDING and n:
            self.changes[(campaign_key, status, reason)] += n

    def move(self, campaign_key: str, old: _Fold, new: _Fold) -> None:
        if old != new:
            self.add(campaign_key, old.status, old.reason, -1)
            self.add(campaign_key, new.status, new.reason, 1)

    def write(self, conn: Connection) -> None:
        rows = [(c, s, _reason_key(r), r, n) for (c, s, r), n in sorted(self.changes.items()) if n]
        if not rows:
            return
        mark = "?" if conn.dialect.name == "sqlite" else "%s"
        conn.exec_driver_sql(
            f"INSERT INTO {delivery_counts.name} (campaign_key, status, reason_key, reason, n) "
            f"VALUES ({', '.join([mark] * 5)}) "
            "ON CONFLICT (campaign_key, status, reason_key) "
            f"DO UPDATE SET n = {delivery_counts.name}.n + excluded.n",
            rows,
        )


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
        for start in range(0, len(msg_ids), _MSG_IDS):
            part = tuple(msg_ids[start : start + _MSG_IDS])
            cursor.execute(f"{query} WHERE {column} IN ({', '.join('?' * len(part))})", part)
            rows += cursor.fetchall()
        return rows
    finally:
        cursor.close()


def refold(conn: Connection, keys: Iterable[MessageKey], deltas: _Deltas | None = None) -> None:
    """Fold these messages again from their reports and move their campaigns' counters by the
    difference (and by ``deltas``), in the caller's transaction. Messages not indexed yet are
    left to indexing."""
    wanted = set(keys)
    deltas = deltas or _Deltas()
    if not wanted:
        deltas.write(conn)
        return
    ensure_counted(conn)
    msg_ids = sorted({m for m, _ in wanted})
    _lock(conn, msg_ids)
    # Each indexed message wanted, with its last fold (none: pending).
    known: dict[MessageKey, tuple[str, int, _Fold]] = {}
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
            old = _Fold(status, reason) if status else _PENDING
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
        _save_states(conn, changed)
    deltas.write(conn)


def _save_states(conn: Connection, rows: Sequence[tuple[str, str, str, str, str]]) -> None:
    if not rows:
        return
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    conn.exec_driver_sql(
        f"INSERT INTO {delivery_state.name} (msg_id, mobile, campaign_key, status, reason) "
        f"VALUES ({', '.join([mark] * 5)}) ON CONFLICT (msg_id, mobile) DO UPDATE SET "
        "status = excluded.status, reason = excluded.reason",
        list(rows),
    )


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
    deltas = _Deltas()
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


def ensure_counted(conn: Connection) -> None:
    """Count a store whose messages and reports predate the counters, once (in this
    transaction): the counters then cover every message."""
    engine = conn.engine
    if engine in _ready:
        return
    if _counted(conn):
        _ready.add(engine)
        return
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            f"LOCK TABLE {delivery_state.name}, {delivery_counts.name} IN EXCLUSIVE MODE"
        )
    now = stored_time(conn, datetime.now(UTC))
    # A write first: SQLite's transaction (and lock) starts here, before anything is read.
    insert_ignore_values(
        conn, cursors, ["name", "position", "updated_at"], [(_MARKER, 0, now)], ["name"]
    )
    if not _counted(conn):  # another process may have counted meanwhile
        _count_everything(conn)
        conn.execute(
            cursors.update()
            .where(cursors.c.name == _MARKER)
            .values(position=_VERSION, updated_at=datetime.now(UTC))
        )
    # Known complete once this transaction committed: the next call confirms it.


def _counted(conn: Connection) -> bool:
    position = conn.execute(select(cursors.c.position).where(cursors.c.name == _MARKER)).scalar()
    return position == _VERSION


def _count_everything(conn: Connection) -> None:
    """Rebuild states and counters from every indexed message and its reports, in SQL."""
    conn.execute(delivery_state.delete())
    conn.execute(delivery_counts.delete())
    ok = reports.c.delivered == 1
    per_message = (
        select(
            sent_messages.c.msg_id,
            sent_messages.c.mobile,
            sent_messages.c.campaign_key,
            sent_messages.c.segments,
            func.sum(case((reports.c.delivered == 0, 1), else_=0)).label("failed_parts"),
            func.sum(case((and_(ok, reports.c.sub_seq == 0), 1), else_=0)).label("whole_ok"),
            func.count(
                func.distinct(case((and_(ok, reports.c.sub_seq > 0), reports.c.sub_seq)))
            ).label("ok_parts"),
        )
        .select_from(
            sent_messages.join(
                reports,
                and_(
                    reports.c.msg_id == sent_messages.c.msg_id,
                    reports.c.mobile == sent_messages.c.mobile,
                ),
            )
        )
        .group_by(
            sent_messages.c.msg_id,
            sent_messages.c.mobile,
            sent_messages.c.campaign_key,
            sent_messages.c.segments,
        )
    )
    deltas = _Deltas()
    states = []
    failed_keys = []
    for row in conn.execute(per_message):
        key = (row.msg_id, row.mobile)
        if row.failed_parts:
            failed_keys.append((key, row.campaign_key))
        elif row.whole_ok or (row.ok_parts and row.ok_parts >= row.segments):
            deltas.add(row.campaign_key, DELIVERED, "", 1)
            states.append((*key, row.campaign_key, DELIVERED, ""))
    # The first failing segment of each failed message names its reason: one pass over the
    # failure reports, in key and segment order.
    failed = dict(failed_keys)
    first: dict[MessageKey, tuple[str, str]] = {}
    for row in conn.execute(
        select(reports.c.msg_id, reports.c.mobile, reports.c.err, reports.c.fail_desc)
        .where(reports.c.delivered == 0)
        .order_by(reports.c.msg_id, reports.c.mobile, reports.c.sub_seq)
    ):
        key = (row.msg_id, row.mobile)
        if key in failed and key not in first:
            first[key] = (row.err, row.fail_desc)
    for key, campaign_key in failed.items():
        reason = reason_text(*first[key])
        deltas.add(campaign_key, FAILED, reason, 1)
        states.append((*key, campaign_key, FAILED, reason))
    for campaign_key, n in conn.execute(
        select(sent_messages.c.campaign_key, func.count()).group_by(sent_messages.c.campaign_key)
    ):
        deltas.add(campaign_key, SENT, "", n)
    for start in range(0, len(states), 150):
        _save_states(conn, states[start : start + 150])
    deltas.write(conn)


class DeliveryCounters:
    """Read the counters.

    :param engine: the store's engine.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def summary(self, campaign_keys: str | Sequence[str]) -> DeliverySummary:
        """The delivery summary of a campaign, or of several (a mapped send's shards, each its
        own campaign key) together, from the counters: a few rows whatever the size."""
        keys = [campaign_keys] if isinstance(campaign_keys, str) else list(campaign_keys)
        if self.engine not in _ready:
            with self.engine.begin() as setup:
                ensure_counted(setup)
        expand_pending(self.engine)  # messages claimed since, counted as they are indexed
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    delivery_counts.c.status,
                    delivery_counts.c.reason,
                    func.sum(delivery_counts.c.n),
                )
                .where(delivery_counts.c.campaign_key.in_(keys))
                .group_by(delivery_counts.c.status, delivery_counts.c.reason)
            ).all()
        total = delivered = failed = 0
        reasons: dict[str, int] = {}
        for status, reason, n in rows:
            n = int(n or 0)
            if status == SENT:
                total += n
            elif status == DELIVERED:
                delivered += n
            elif status == FAILED and n:
                failed += n
                reasons[reason] = reasons.get(reason, 0) + n
        return DeliverySummary(total, delivered, failed, total - delivered - failed, reasons)
