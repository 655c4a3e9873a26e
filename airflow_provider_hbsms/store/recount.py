"""Counting a store whose messages and reports predate the delivery counters, once: the
counters then cover every message (``counters.py`` keeps them up to date from there)."""

from __future__ import annotations

import weakref
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, case, func, select

from airflow_provider_hbsms.store.delivery import DELIVERED, FAILED
from airflow_provider_hbsms.store.folds import SENT, Deltas, MessageKey, reason_text, save_states
from airflow_provider_hbsms.store.schema import (
    cursors,
    delivery_counts,
    delivery_state,
    reports,
    sent_messages,
)
from airflow_provider_hbsms.store.upsert import insert_ignore_values, stored_time

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

#: Marks (in ``hbsms_cursors``) a store whose counters cover every message; older stores are
#: counted once from their reports when the counters are first used.
_MARKER = "hbsms.delivery_counters"
_VERSION = 1

#: Engines whose counters are known to be complete (checked once per process).
_ready: weakref.WeakSet[Engine] = weakref.WeakSet()


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



def ensure_counted_once(engine: Engine) -> None:
    """``ensure_counted`` in a transaction of its own, unless known done in this process."""
    if engine not in _ready:
        with engine.begin() as setup:
            ensure_counted(setup)


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
    deltas = Deltas()
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
        save_states(conn, states[start : start + 150])
    deltas.write(conn)

