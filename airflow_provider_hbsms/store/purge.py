"""Removing recipients' personal data from the store once it is no longer needed.

A purged campaign keeps its counts (batches, messages, segments, delivery statuses and
failure reasons, how many replied) but loses what identifies people: every number in its
sent messages and reports becomes a pseudonym (``*0000000001``, the same one in both, so
statuses still match reports to messages), reply texts are emptied, and its journal of
messages and its invalid rows (``hbsms_rejects``) are deleted. A retention sweep
(``purge_older_than``) does that for every campaign whose last batch is older than the
retention, and also purges replies and reports matched to no campaign and dead letters
(unread bodies) that old. The opt-out list keeps its numbers: honouring an opt-out needs them.

``hbsms-purge --older-than-days 90`` (or ``[hbsms] retention_days``) runs a sweep;
``--campaign KEY`` purges one campaign now. ``HbSmsPurgeOperator`` does the same in a DAG.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, delete, exists, func, not_, or_, select, update

from airflow_provider_hbsms.store.db import in_transaction
from airflow_provider_hbsms.store.quarantine import RECEIVED
from airflow_provider_hbsms.store.schema import (
    batch_messages,
    dead_letter_digests,
    dead_letters,
    inbound,
    quarantine,
    rejects,
    replies,
    reports,
    send_batches,
    sent_messages,
)
from airflow_provider_hbsms.store.sent import expand_pending

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from airflow_provider_hbsms.store import Store

#: Purged numbers start with one of these; no mobile number does.
CAMPAIGN_PSEUDONYM, LOOSE_PSEUDONYM = "*", "#"


@dataclass
class PurgeResult:
    """What a purge changed.

    :param campaigns: campaigns purged.
    :param messages: sent messages whose number was replaced.
    :param reports: reports whose number was replaced.
    :param replies: replies whose number and text were removed.
    :param rejects: invalid-row records deleted.
    :param dead_letters: dead letters deleted.
    :param raw_bodies: bodies kept as received (``hbsms_inbound``) deleted.
    :param quarantined: quarantined items deleted.
    """

    campaigns: int = 0
    messages: int = 0
    reports: int = 0
    replies: int = 0
    rejects: int = 0
    dead_letters: int = 0
    raw_bodies: int = 0
    quarantined: int = 0

    def add(self, other: PurgeResult) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _purged(column: Any) -> Any:
    return or_(column.like(f"{CAMPAIGN_PSEUDONYM}%"), column.like(f"{LOOSE_PSEUDONYM}%"))


def _loose(row_id: int) -> str:
    return f"{LOOSE_PSEUDONYM}{row_id:010d}"[-11:]


def _purge_replies(
    conn: Connection, rows: list[Any], pseudonyms: dict[tuple[str, str], str]
) -> int:
    if not rows:
        return 0
    values = [
        {
            "b_id": row.id,
            "b_mobile": pseudonyms.get((row.msg_id or "", row.mobile)) or _loose(row.id),
            "b_key": f"purged:{row.id}",
        }
        for row in rows
    ]
    conn.execute(
        update(replies)
        .where(replies.c.id == bindparam("b_id"))
        .values(mobile=bindparam("b_mobile"), content="", reply_key=bindparam("b_key")),
        values,
    )
    return len(values)


def _purge_campaign(conn: Connection, campaign_key: str) -> PurgeResult:
    result = PurgeResult(campaigns=1)
    in_campaign = sent_messages.c.campaign_key == campaign_key
    done = conn.execute(
        select(func.count())
        .select_from(sent_messages)
        .where(in_campaign, _purged(sent_messages.c.mobile))
    ).scalar_one()
    sent = conn.execute(
        select(sent_messages.c.msg_id, sent_messages.c.mobile)
        .where(in_campaign, not_(_purged(sent_messages.c.mobile)))
        .order_by(sent_messages.c.msg_id, sent_messages.c.mobile)
    ).all()
    pseudonyms = {
        (row.msg_id, row.mobile): f"{CAMPAIGN_PSEUDONYM}{done + i:010d}"
        for i, row in enumerate(sent)
    }
    if pseudonyms:
        result.reports = conn.execute(
            select(func.count())
            .select_from(
                reports.join(
                    sent_messages,
                    and_(
                        sent_messages.c.msg_id == reports.c.msg_id,
                        sent_messages.c.mobile == reports.c.mobile,
                    ),
                )
            )
            .where(in_campaign, not_(_purged(sent_messages.c.mobile)))
        ).scalar_one()
        values = [
            {"b_msg_id": msg_id, "b_old": mobile, "b_new": new}
            for (msg_id, mobile), new in pseudonyms.items()
        ]
        for table in (reports, sent_messages):
            conn.execute(
                update(table)
                .where(
                    table.c.msg_id == bindparam("b_msg_id"), table.c.mobile == bindparam("b_old")
                )
                .values(mobile=bindparam("b_new")),
                values,
            )
        result.messages = len(values)
    answered = conn.execute(
        select(replies.c.id, replies.c.mobile, replies.c.msg_id).where(
            replies.c.campaign_key == campaign_key,
            or_(replies.c.content != "", not_(_purged(replies.c.mobile))),
        )
    ).all()
    result.replies = _purge_replies(conn, list(answered), pseudonyms)
    conn.execute(delete(batch_messages).where(batch_messages.c.campaign_key == campaign_key))
    result.rejects = conn.execute(
        delete(rejects).where(rejects.c.campaign_key == campaign_key)
    ).rowcount
    return result


def purge_campaign(store: Store, campaign_key: str) -> PurgeResult:
    """Remove one campaign's personal data now, keeping its counts."""
    expand_pending(store.engine)  # the journal becomes indexed rows, which keep the counts
    return in_transaction(store.engine, lambda conn: _purge_campaign(conn, campaign_key))


def _purge_loose(conn: Connection, cutoff: datetime) -> PurgeResult:
    """Replies and reports matched to no campaign, dead letters, quarantined items and raw
    bodies, older than ``cutoff``."""
    result = PurgeResult()
    loose = conn.execute(
        select(replies.c.id, replies.c.mobile, replies.c.msg_id).where(
            replies.c.campaign_key.is_(None),
            replies.c.received_at < cutoff,
            or_(replies.c.content != "", not_(_purged(replies.c.mobile))),
        )
    ).all()
    result.replies = _purge_replies(conn, list(loose), {})
    matched = exists().where(
        and_(sent_messages.c.msg_id == reports.c.msg_id, sent_messages.c.mobile == reports.c.mobile)
    )
    unmatched = conn.execute(
        select(reports.c.id).where(
            reports.c.received_at < cutoff, not_(_purged(reports.c.mobile)), not_(matched)
        )
    ).all()
    if unmatched:
        conn.execute(
            update(reports)
            .where(reports.c.id == bindparam("b_id"))
            .values(mobile=bindparam("b_mobile")),
            [{"b_id": row.id, "b_mobile": _loose(row.id)} for row in unmatched],
        )
    result.reports = len(unmatched)
    old = select(dead_letters.c.id).where(dead_letters.c.received_at < cutoff)
    conn.execute(delete(dead_letter_digests).where(dead_letter_digests.c.dead_letter_id.in_(old)))
    result.dead_letters = conn.execute(
        delete(dead_letters).where(dead_letters.c.received_at < cutoff)
    ).rowcount
    result.quarantined = conn.execute(
        delete(quarantine).where(quarantine.c.received_at < cutoff)
    ).rowcount
    # A pulled page not yet read (``received``) still waits for its items to be stored.
    result.raw_bodies = conn.execute(
        delete(inbound).where(inbound.c.received_at < cutoff, inbound.c.state != RECEIVED)
    ).rowcount
    return result


def purge_older_than(store: Store, days: float, now: datetime | None = None) -> PurgeResult:
    """The retention sweep: purge every campaign whose last batch is more than ``days`` old,
    and loose replies, reports, dead letters, quarantined items and raw bodies received that
    long ago."""
    if days < 0:
        raise ValueError(f"retention of {days} days: must be 0 or more")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    expand_pending(store.engine)
    with store.engine.connect() as conn:
        keys = (
            conn.execute(
                select(send_batches.c.campaign_key)
                .group_by(send_batches.c.campaign_key)
                .having(func.max(send_batches.c.updated_at) < cutoff)
            )
            .scalars()
            .all()
        )
    total = PurgeResult()
    for key in keys:
        total.add(purge_campaign(store, key))
    total.add(in_transaction(store.engine, lambda conn: _purge_loose(conn, cutoff)))
    return total


def configured_retention_days() -> float | None:
    """``[hbsms] retention_days`` (or ``AIRFLOW__HBSMS__RETENTION_DAYS``); None when unset."""
    value = os.environ.get("AIRFLOW__HBSMS__RETENTION_DAYS", "")
    if not value:
        try:
            from airflow.configuration import conf

            value = conf.get("hbsms", "retention_days", fallback="") or ""
        except ImportError:  # pragma: no cover - the store also runs without Airflow
            value = ""
    return float(value) if value else None


def main(argv: list[str] | None = None) -> int:
    """``hbsms-purge``: remove personal data from the store, keeping counts."""
    from airflow_provider_hbsms.store import open_store

    parser = argparse.ArgumentParser(prog="hbsms-purge", description=main.__doc__)
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--older-than-days",
        type=float,
        help="purge campaigns (and loose replies, reports, dead letters) older than this "
        "(default: [hbsms] retention_days)",
    )
    target.add_argument("--campaign", help="purge this campaign key now")
    parser.add_argument("--store-url", help="SQLAlchemy URL (default: [hbsms] settings / SQLite)")
    parser.add_argument("--store-conn-id", help="Airflow connection id of the store")
    args = parser.parse_args(argv)
    store = open_store(url=args.store_url, conn_id=args.store_conn_id)
    if args.campaign:
        result = purge_campaign(store, args.campaign)
    else:
        days = args.older_than_days
        if days is None:
            days = configured_retention_days()
        if days is None:
            print(
                "hbsms-purge: give --older-than-days or --campaign, or set [hbsms] retention_days",
                file=sys.stderr,
            )
            return 2
        result = purge_older_than(store, days)
    print(" ".join(f"{name}={value}" for name, value in result.as_dict().items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
