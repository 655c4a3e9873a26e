"""Nothing handed over is lost: raw bodies as received, dead letters (bodies that cannot be
read) and quarantined items (items that cannot be stored), kept durably for a replay."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from itertools import chain
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import delete, select, update

from airflow_provider_hbsms.store.checks import is_bad_value
from airflow_provider_hbsms.store.chunks import SQLITE_MAX_VARIABLES, in_chunks
from airflow_provider_hbsms.store.db import in_transaction
from airflow_provider_hbsms.store.raw_bodies import pack_body
from airflow_provider_hbsms.store.schema import (
    dead_letter_digests,
    dead_letters,
    inbound,
    quarantine,
)
from airflow_provider_hbsms.store.upsert import insert_ignore_values, stored_time

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)

T = TypeVar("T")
RECEIVED, STORED, PARTIAL, DEAD = "received", "stored", "partial", "dead"


def run_storing(engine: Engine, work: Callable[[Connection, bool], T]) -> T:
    """Run ``work(connection, careful)`` in a transaction of its own, fast (``careful`` false);
    when the database refuses a value that the checks let through, run it again item by item,
    so that only that item is refused."""
    try:
        return in_transaction(engine, lambda connection: work(connection, False))
    except Exception as exc:
        if not is_bad_value(exc):
            raise
        log.warning("a value was refused by the database (%s): storing item by item", exc)
    return in_transaction(engine, lambda connection: work(connection, True))


def item_key(kind: str, fragment: str) -> str:
    """Identity of a quarantined item: the gateway pushing a body again quarantines it once."""
    return hashlib.sha256(f"{kind}\x1f{fragment}".encode()).hexdigest()


def quarantine_items(
    connection: Connection,
    kind: str,
    source: str,
    inbound_id: int | None,
    refused: Sequence[tuple[str, str]],
) -> int:
    """Keep each refused ``(fragment, reason)`` once; returns how many were new."""
    if not refused:
        return 0
    now = stored_time(connection, datetime.now(UTC))
    for _, reason in refused:
        log.warning("%s item quarantined: %s", kind, reason)
    values = [
        (item_key(kind, fragment), kind, source, inbound_id, fragment, reason, now, 0)
        for fragment, reason in dict(refused).items()
    ]
    columns = (
        "item_key", "kind", "source", "inbound_id", "fragment", "reason", "received_at",
        "attempts",
    )  # fmt: skip
    return insert_ignore_values(connection, quarantine, columns, values, ["item_key"])


def keep_raw(
    connection: Connection, kind: str, source: str, route: str, body: bytes, state: str, items: int
) -> int:
    """Keep a body as received, in the connection's transaction; returns its id."""
    return keep_raw_group(connection, kind, source, state, [(route, body, items)])[0]


def keep_raw_group(
    connection: Connection,
    kind: str,
    source: str,
    state: str,
    bodies: Sequence[tuple[str, bytes, int]],
) -> list[int]:
    """Keep bodies as received (each ``(route, body, items)``, compressed by ``pack_body``) in
    the connection's transaction, with one statement; returns their ids, in order. Straight
    to the driver: this runs for every push and pulled page, and a statement per body costs a
    round trip per body on PostgreSQL."""
    if not bodies:
        return []
    now = stored_time(connection, datetime.now(UTC))
    sqlite = connection.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    row = f"({', '.join([mark] * 8)})"
    names = "kind, source, route, body, body_encoding, received_at, state, items"
    ids: list[int] = []
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        for part in in_chunks(bodies, SQLITE_MAX_VARIABLES // 8):
            values = [
                (kind, source, route, *pack_body(body), now, state, items)
                for route, body, items in part
            ]
            cursor.execute(
                f"INSERT INTO {inbound.name} ({names}) VALUES {', '.join([row] * len(part))} "
                "RETURNING id",
                tuple(chain.from_iterable(values)),
            )
            # Ids grow in the order the rows are inserted, which is the order given; the
            # order RETURNING lists them in is not promised.
            ids += sorted(int(found[0]) for found in cursor.fetchall())
    finally:
        cursor.close()
    return ids


def set_state(connection: Connection, inbound_id: int, state: str, items: int) -> None:
    """Record what became of a kept body."""
    connection.execute(
        update(inbound).where(inbound.c.id == inbound_id).values(state=state, items=items)
    )


def keep_dead_letter(
    engine: Engine,
    kind: str,
    source: str,
    body: bytes,
    error: str,
    route: str = "",
    inbound_id: int | None = None,
) -> int:
    """Keep a body that arrived but could not be read; a body kept already (the gateway
    pushes a refused body again) is kept once. Returns the dead letter's id."""

    digest = hashlib.sha256(body).hexdigest()
    key = (
        dead_letter_digests.c.kind == kind,
        dead_letter_digests.c.source == source,
        dead_letter_digests.c.digest == digest,
    )

    def work(connection: Connection) -> int:
        # One index lookup by digest, not a comparison with every body kept.
        kept = connection.execute(
            select(dead_letters.c.id)
            .join(dead_letter_digests, dead_letter_digests.c.dead_letter_id == dead_letters.c.id)
            .where(*key, dead_letters.c.replayed_at.is_(None))
            .limit(1)
        ).scalar()
        if inbound_id is not None:
            set_state(connection, inbound_id, DEAD, 0)
        if kept is not None:
            return int(kept)
        values: dict[str, Any] = {
            "kind": kind,
            "source": source,
            "body": body,
            "error": error,
            "received_at": datetime.now(UTC),
            "route": route,
            "inbound_id": inbound_id,
        }
        inserted = connection.execute(dead_letters.insert().values(**values))
        dead_letter_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
        # A replayed letter's digest points at it no more: the new letter takes its place.
        connection.execute(delete(dead_letter_digests).where(*key))
        insert_ignore_values(
            connection,
            dead_letter_digests,
            ("kind", "source", "digest", "dead_letter_id"),
            [(kind, source, digest, dead_letter_id)],
            ["kind", "source", "digest"],
        )
        return dead_letter_id

    return in_transaction(engine, work)
