"""Which messages each batch sent: journaled with the claim, indexed when first needed.

A claim commits its batch's messages as one row (``hbsms_batch_messages``) before the request
leaves: cheap, and enough for exactly-once sending. Matching reports and replies back needs
them one row per message under three indexes (``hbsms_sent_messages``), which costs several
times more than the send itself; readers build those rows from the journal when they first
need them (``expand``), so a campaign's sending is not slowed by indexing it.
"""

from __future__ import annotations

from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import select, update

from airflow_provider_hbsms.store.db import in_transaction
from airflow_provider_hbsms.store.schema import batch_messages, sent_messages
from airflow_provider_hbsms.store.upsert import insert_ignore_values, stored_time

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy import Connection, Engine

#: ``(msg_id, mobile, ext, segments)`` of one sent message.
SentMessage = tuple[str, str, str, int]

#: Separates the journal payload's columns; no validated msg_id, number or ext contains it.
_COLUMNS = "\x1e"


class SentColumns(NamedTuple):
    """A batch's messages column by column, as a claim journals them.

    :param msg_ids: each message's ``corp_msg_id``.
    :param mobiles: each message's number.
    :param exts: each message's extension ("" for none).
    :param segments: each message's billed segments.
    """

    msg_ids: Sequence[str]
    mobiles: Sequence[str]
    exts: Sequence[str]
    segments: Sequence[int]

    @classmethod
    def of(cls, messages: Sequence[SentMessage]) -> SentColumns:
        """The columns of ``(msg_id, mobile, ext, segments)`` rows."""
        if not messages:
            return cls([], [], [], [])
        msg_ids, mobiles, exts, segments = zip(*messages, strict=True)
        return cls(msg_ids, mobiles, exts, segments)


def journal(
    conn: Connection,
    batch_key: str,
    campaign_key: str,
    messages: SentColumns,
    now: datetime,
) -> None:
    """Record a batch's messages in one row (a re-claimed batch keeps its first row).

    The payload is the four columns, each joined by newlines: four joins in C, where a line
    per message cost a third of a claim."""
    payload = _COLUMNS.join(
        [
            "\n".join(messages.msg_ids),
            "\n".join(messages.mobiles),
            "\n".join(messages.exts),
            "\n".join(map(str, messages.segments)),
        ]
    )
    insert_ignore_values(
        conn,
        batch_messages,
        ["batch_key", "campaign_key", "payload", "created_at", "expanded"],
        [(batch_key, campaign_key, payload, stored_time(conn, now), 0)],
        ["batch_key"],
    )


def expand(conn: Connection, page: int = 100, pages: int | None = None) -> int:
    """Give journaled batches not expanded yet their ``hbsms_sent_messages`` rows, in the
    caller's transaction, ``page`` batches at a time (a million-message campaign's journal is
    never loaded at once), at most ``pages`` pages (all when None); returns how many batches
    were expanded. Safe when several readers expand at once: rows are inserted if absent."""
    from airflow_provider_hbsms.store.counters import count_indexed

    expanded = 0
    while pages is None or pages > 0:
        pending = conn.execute(
            select(
                batch_messages.c.batch_key,
                batch_messages.c.campaign_key,
                batch_messages.c.payload,
                batch_messages.c.created_at,
            )
            .where(batch_messages.c.expanded == 0)
            .order_by(batch_messages.c.batch_key)
            .limit(page)
        ).all()
        if not pending:
            break
        rows: list[tuple[Any, ...]] = []
        for batch_key, campaign_key, payload, created_at in pending:
            rows += _rows(conn, batch_key, campaign_key, _parse(payload), created_at)
        # In mobile order, the (mobile, ext) index's pages are written in one sweep rather
        # than at random: a fifth cheaper once the store holds a million messages. (Sorting on
        # the mobile alone costs half as much, and a number seldom has several exts.)
        rows.sort(key=itemgetter(1))
        count_indexed(conn, rows, _insert)  # and counted, for the delivery counters
        conn.execute(
            update(batch_messages)
            .where(batch_messages.c.batch_key.in_([row.batch_key for row in pending]))
            .values(expanded=1)
        )
        expanded += len(pending)
        pages = None if pages is None else pages - 1
    return expanded


def expand_pending(engine: Engine, page: int = 100) -> None:
    """``expand`` everything waiting, one committed transaction per page: a large backlog never
    holds the store's write lock (SQLite) for long, so campaigns sending meanwhile keep
    claiming. One indexed lookup when nothing waits."""
    with engine.connect() as conn:
        waiting = conn.execute(
            select(batch_messages.c.batch_key).where(batch_messages.c.expanded == 0).limit(1)
        ).first()
    while waiting is not None and in_transaction(engine, lambda c: expand(c, page, pages=1)):
        pass


def _parse(payload: str) -> list[SentMessage]:
    if _COLUMNS not in payload:  # a line per message, as earlier builds journaled
        lines = (line.split("\t") for line in payload.split("\n") if line)
        return [(i, m, e, int(s)) for i, m, e, s in lines]
    msg_ids, mobiles, exts, segments = (column.split("\n") for column in payload.split(_COLUMNS))
    return list(zip(msg_ids, mobiles, exts, map(int, segments), strict=True))


_COLUMN_NAMES = ["msg_id", "mobile", "ext", "segments", "batch_key", "campaign_key", "sent_at"]


def _rows(
    conn: Connection,
    batch_key: str,
    campaign_key: str,
    messages: Sequence[SentMessage],
    sent_at: datetime,
) -> list[tuple[Any, ...]]:
    """A batch's ``hbsms_sent_messages`` rows, in ``_COLUMN_NAMES`` order."""
    shared = (batch_key, campaign_key, stored_time(conn, sent_at))
    return [tuple(m) + shared for m in messages]


def _insert(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert rows into ``hbsms_sent_messages``, duplicates ignored; returns how many were new."""
    return insert_ignore_values(conn, sent_messages, _COLUMN_NAMES, rows, ["msg_id", "mobile"])
