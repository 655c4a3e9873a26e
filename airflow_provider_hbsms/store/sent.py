"""Which messages each batch sent: journaled with the claim, indexed when first needed.

A claim commits its batch's messages as one row (``hbsms_batch_messages``) before the request
leaves: cheap, and enough for exactly-once sending. Matching reports and replies back needs
them one row per message under three indexes (``hbsms_sent_messages``), which costs several
times more than the send itself; readers build those rows from the journal when they first
need them (``expand``), so a campaign's sending is not slowed by indexing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select, update

from airflow_provider_hbsms.store.db import in_transaction
from airflow_provider_hbsms.store.schema import batch_messages, sent_messages
from airflow_provider_hbsms.store.upsert import insert_ignore, insert_ignore_values, stored_time

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy import Connection, Engine

#: ``(msg_id, mobile, ext, segments)`` of one sent message.
SentMessage = tuple[str, str, str, int]


def journal(
    conn: Connection,
    batch_key: str,
    campaign_key: str,
    messages: Sequence[SentMessage],
    now: datetime,
) -> None:
    """Record a batch's messages in one row (a re-claimed batch keeps its first row)."""
    payload = "\n".join(f"{i}\t{m}\t{e}\t{s}" for i, m, e, s in messages)
    row = {
        "batch_key": batch_key,
        "campaign_key": campaign_key,
        "payload": payload,
        "created_at": now,
        "expanded": 0,
    }
    insert_ignore(conn, batch_messages, [row], ["batch_key"])


def expand(conn: Connection, page: int = 100, pages: int | None = None) -> int:
    """Give journaled batches not expanded yet their ``hbsms_sent_messages`` rows, in the
    caller's transaction, ``page`` batches at a time (a million-message campaign's journal is
    never loaded at once), at most ``pages`` pages (all when None); returns how many batches
    were expanded. Safe when several readers expand at once: rows are inserted if absent."""
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
        for batch_key, campaign_key, payload, created_at in pending:
            messages = [_parse(line) for line in payload.split("\n") if line]
            insert_messages(conn, batch_key, campaign_key, messages, created_at)
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


def _parse(line: str) -> SentMessage:
    msg_id, mobile, ext, segments = line.split("\t")
    return msg_id, mobile, ext, int(segments)


def insert_messages(
    conn: Connection,
    batch_key: str,
    campaign_key: str,
    messages: Sequence[SentMessage],
    sent_at: datetime,
) -> None:
    """Insert messages into ``hbsms_sent_messages``, duplicates ignored."""
    shared = (batch_key, campaign_key, stored_time(conn, sent_at))
    insert_ignore_values(
        conn,
        sent_messages,
        ["msg_id", "mobile", "ext", "segments", "batch_key", "campaign_key", "sent_at"],
        [tuple(m) + shared for m in messages],
        ["msg_id", "mobile"],
    )
