"""Replaying what could not be stored, after a fix (a schema migration, new code, another
configuration): bodies kept but never read are read, dead letters are read again and
quarantined items stored again. Idempotent:
what is stored once is never stored twice, and a replayed item or letter is marked so."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from airflow_provider_hbsms.exceptions import XmlBodyError
from airflow_provider_hbsms.protocol.xmlcodec import read_replies, read_reports
from airflow_provider_hbsms.store.db import in_transaction
from airflow_provider_hbsms.store.migrations import forget_limits
from airflow_provider_hbsms.store.quarantine import PARTIAL, RECEIVED, STORED, set_state
from airflow_provider_hbsms.store.replies import DEFAULT_OPT_OUT_KEYWORDS
from airflow_provider_hbsms.store.schema import dead_letters, inbound, quarantine
from airflow_provider_hbsms.store.sent import expand_pending

if TYPE_CHECKING:
    from collections.abc import Collection

    from sqlalchemy import Connection

    from airflow_provider_hbsms.store import Store

log = logging.getLogger(__name__)

_ROOTS = {"reports": "reports", "replies": "delivers"}


@dataclass
class ReplayResult:
    """What a replay did.

    :param bodies: bodies kept as received but never read (a collector stopped between keeping
        a pulled page and storing it), read now.
    :param dead_letters: dead letters read again.
    :param dead_letters_read: of these, now readable (their items stored or quarantined).
    :param quarantined: quarantined items tried again.
    :param stored: items stored (or found stored) by this replay.
    :param new: of these, items that were not in the store before.
    :param still_refused: ``(table, id, reason)`` of what still cannot be read or stored.
    """

    bodies: int = 0
    dead_letters: int = 0
    dead_letters_read: int = 0
    quarantined: int = 0
    stored: int = 0
    new: int = 0
    still_refused: list[tuple[str, int, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bodies": self.bodies,
            "dead_letters": self.dead_letters,
            "dead_letters_read": self.dead_letters_read,
            "quarantined": self.quarantined,
            "stored": self.stored,
            "new": self.new,
            "still_refused": len(self.still_refused),
        }


def replay(
    store: Store,
    kinds: Collection[str] = ("reports", "replies"),
    opt_out_keywords: Collection[str] = DEFAULT_OPT_OUT_KEYWORDS,
) -> ReplayResult:
    """Read the dead letters and store the quarantined items of ``kinds`` again.

    A dead letter that now reads is stored as its body would have been (its unstorable items
    go to quarantine) and marked replayed; a quarantined item that now stores is marked
    resolved. What still fails keeps its row, with the new reason.

    :param store: the store.
    :param kinds: ``reports`` and/or ``replies``.
    :param opt_out_keywords: replies that put their sender on the opt-out list.
    """
    forget_limits()  # a migration may have run in another process
    result = ReplayResult()
    if "replies" in kinds:
        expand_pending(store.engine)
    _unread_bodies(store, kinds, opt_out_keywords, result)
    _dead_letters(store, kinds, opt_out_keywords, result)
    _quarantined(store, kinds, opt_out_keywords, result)
    log.info("Replay: %s", result.as_dict())
    return result


def _unread_bodies(
    store: Store, kinds: Collection[str], keywords: Collection[str], result: ReplayResult
) -> None:
    with store.engine.connect() as conn:
        unread = conn.execute(
            select(inbound.c.id, inbound.c.kind, inbound.c.source, inbound.c.route)
            .where(inbound.c.state == RECEIVED, inbound.c.kind.in_(list(kinds)))
            .order_by(inbound.c.id)
        ).all()
    for row in unread:
        body = store.intake.kept_body(row.id)
        done = store.intake.ingest(
            row.kind, row.source, row.route, body, opt_out_keywords=keywords, inbound_id=row.id
        )
        result.bodies += 1
        result.new += done.new
        result.stored += done.items - done.quarantined if done.dead_letter is None else 0


def _dead_letters(
    store: Store, kinds: Collection[str], keywords: Collection[str], result: ReplayResult
) -> None:
    with store.engine.connect() as conn:
        letters = conn.execute(
            select(dead_letters.c.id, dead_letters.c.kind, dead_letters.c.source)
            .where(dead_letters.c.replayed_at.is_(None), dead_letters.c.kind.in_(list(kinds)))
            .order_by(dead_letters.c.id)
        ).all()
    for letter in letters:
        result.dead_letters += 1
        with store.engine.connect() as conn:
            row = conn.execute(select(dead_letters).where(dead_letters.c.id == letter.id)).one()
        try:
            read: Any = read_reports(row.body) if row.kind == "reports" else read_replies(row.body)
        except XmlBodyError as exc:
            note = f"{type(exc).__name__}: {exc}"
            with store.engine.begin() as conn:
                conn.execute(
                    update(dead_letters)
                    .where(dead_letters.c.id == row.id)
                    .values(replay_note=f"still unreadable: {note}")
                )
            result.still_refused.append(("dead_letters", row.id, note))
            continue

        def work(conn: Connection, row: Any = row, read: Any = read) -> tuple[int, int]:
            from airflow_provider_hbsms.store.quarantine import quarantine_items

            new, refused = _store_items(store, conn, row.kind, row.source, read.items, keywords)
            refused = list(read.refused) + refused
            quarantine_items(conn, row.kind, row.source, row.inbound_id, refused)
            if row.inbound_id is not None:
                items = len(read.items) + len(read.refused)
                set_state(conn, row.inbound_id, PARTIAL if refused else STORED, items)
            conn.execute(
                update(dead_letters)
                .where(dead_letters.c.id == row.id)
                .values(
                    replayed_at=datetime.now(UTC),
                    replay_note=f"read: {len(read.items)} item(s), {len(refused)} quarantined",
                )
            )
            return new, len(read.items) - len(refused) + len(read.refused)

        new, stored = in_transaction(store.engine, work)
        result.dead_letters_read += 1
        result.new += new
        result.stored += stored


def _quarantined(
    store: Store, kinds: Collection[str], keywords: Collection[str], result: ReplayResult
) -> None:
    with store.engine.connect() as conn:
        items = conn.execute(
            select(quarantine)
            .where(quarantine.c.resolved_at.is_(None), quarantine.c.kind.in_(list(kinds)))
            .order_by(quarantine.c.id)
        ).all()
    for item in items:
        result.quarantined += 1
        new, why = in_transaction(
            store.engine, partial(_replay_item, store, item=item, keywords=keywords)
        )
        if why:
            result.still_refused.append(("quarantine", item.id, why))
        else:
            result.stored += 1
            result.new += new


def _replay_item(
    store: Store, conn: Connection, *, item: Any, keywords: Collection[str]
) -> tuple[int, str]:
    """Read and store one quarantined item; (new, why it is still refused or "")."""
    root = _ROOTS[item.kind]
    new, why = 0, ""
    try:
        body = f"<{root}>{item.fragment}</{root}>"
        read: Any = read_reports(body) if item.kind == "reports" else read_replies(body)
    except XmlBodyError as exc:
        why = str(exc)
    else:
        if read.refused:
            why = read.refused[0][1]
        else:
            new, refused = _store_items(store, conn, item.kind, item.source, read.items, keywords)
            why = refused[0][1] if refused else ""
    values: dict[str, Any] = {"attempts": item.attempts + 1, "reason": why or item.reason}
    if not why:
        values["resolved_at"] = datetime.now(UTC)
    conn.execute(update(quarantine).where(quarantine.c.id == item.id).values(**values))
    return new, why


def _store_items(
    store: Store,
    conn: Connection,
    kind: str,
    source: str,
    entries: Any,
    keywords: Collection[str],
) -> tuple[int, list[tuple[str, str]]]:
    """Store entries one by one (a replay is not a hot path: each value refused alone)."""
    if kind == "reports":
        return store.reports.add_read(conn, entries, source, careful=True)
    added, refused = store.replies.add_read(conn, entries, source, keywords, careful=True)
    return added.new, refused
