"""Raw-first storing of what the gateway hands over, pushed or pulled.

Every body is kept as received (``hbsms_inbound``) before or in the same transaction as the
rows read from it; a body that cannot be read is kept as a dead letter; an item that cannot be
stored is quarantined with its reason; the rest of the body is stored. So nothing the gateway
hands over is lost, whatever one of its values is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from airflow_provider_hbsms.exceptions import XmlBodyError
from airflow_provider_hbsms.protocol.xmlcodec import read_replies, read_reports
from airflow_provider_hbsms.store.quarantine import (
    PARTIAL,
    RECEIVED,
    STORED,
    keep_dead_letter,
    keep_raw,
    keep_raw_group,
    quarantine_items,
    run_storing,
    set_state,
)
from airflow_provider_hbsms.store.raw_bodies import unpack_body
from airflow_provider_hbsms.store.replies import DEFAULT_OPT_OUT_KEYWORDS
from airflow_provider_hbsms.store.schema import inbound
from airflow_provider_hbsms.store.sent import expand, expand_pending

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from sqlalchemy import Connection, Engine

    from airflow_provider_hbsms.store.replies import ReplyStore
    from airflow_provider_hbsms.store.reports import ReportStore

log = logging.getLogger(__name__)

KINDS = ("reports", "replies")


@dataclass(frozen=True)
class _Read:
    """A body as read, before it is stored."""

    route: str
    body: bytes
    read: Any
    items: int
    inbound_id: int | None


@dataclass
class Ingested:
    """What became of one body.

    :param inbound_id: the id of the body as kept (``hbsms_inbound``); None for a dead letter
        of a push.
    :param items: items in the body (readable or not).
    :param new: items stored that were not stored before (0 for a body stored in a group:
        ``Intake.ingest_group`` counts them for the group).
    :param quarantined: items quarantined (``hbsms_quarantine``).
    :param opted_out: numbers put on the opt-out list (replies).
    :param dead_letter: the body could not be read: the id of its dead letter.
    :param error: why it could not be read.
    """

    inbound_id: int | None = None
    items: int = 0
    new: int = 0
    quarantined: int = 0
    opted_out: list[str] = field(default_factory=list)
    dead_letter: int | None = None
    error: str = ""


class Intake:
    """Stores bodies raw first, then their items one by one.

    :param engine: the store's engine.
    :param reports: the store's reports.
    :param replies: the store's replies.
    """

    # The parts of the store it needs, not the Store: the Store builds it.
    def __init__(self, engine: Engine, reports: ReportStore, replies: ReplyStore) -> None:
        self.engine, self.reports, self.replies = engine, reports, replies

    def keep(self, kind: str, source: str, route: str, body: bytes) -> int:
        """Commit a body as received, before anything reads it (a pull's page: the gateway
        will not hand it over again); returns its id for ``ingest``."""
        return run_storing(
            self.engine,
            lambda conn, careful: keep_raw(conn, kind, source, route, body, RECEIVED, 0),
        )

    def kept_body(self, inbound_id: int) -> bytes:
        """A body kept as received (``hbsms_inbound``), byte for byte."""
        with self.engine.connect() as connection:
            stored, encoding = connection.execute(
                select(inbound.c.body, inbound.c.body_encoding).where(inbound.c.id == inbound_id)
            ).one()
        return unpack_body(stored, encoding)

    def ingest(
        self,
        kind: str,
        source: str,
        route: str,
        body: bytes,
        opt_out_keywords: Collection[str] = DEFAULT_OPT_OUT_KEYWORDS,
        inbound_id: int | None = None,
        raw: bool = True,
        max_items: int | None = None,
    ) -> Ingested:
        """Read a body and store it: the body itself (unless ``inbound_id`` says it is kept
        already), every item the store can hold, and every other item in quarantine, in one
        transaction. An unreadable body becomes a dead letter.

        :param kind: ``reports`` or ``replies``.
        :param source: ``push`` or ``pull``.
        :param route: the endpoint or push route it came by.
        :param body: the body as received.
        :param opt_out_keywords: replies that put their sender on the opt-out list.
        :param inbound_id: the id ``keep`` returned, for a body kept already.
        :param raw: keep the body (off only to measure what keeping it costs).
        :param max_items: more items than this make the body a dead letter, stored by a replay
            once someone has looked at it (a pull: the protocol hands over at most 100 reports
            or 10 replies, so more is not the gateway's answer).
        :raises Exception: the store failed (not a value): nothing of the body was committed.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        try:
            read: Any = read_reports(body) if kind == "reports" else read_replies(body)
        except XmlBodyError as exc:
            return self._dead(kind, source, route, body, f"{type(exc).__name__}: {exc}", inbound_id)
        count = len(read.items) + len(read.refused)
        if max_items is not None and count > max_items:
            error = f"ReplyTooLargeError: {count} items in one body (at most {max_items})"
            return self._dead(kind, source, route, body, error, inbound_id)
        if kind == "replies":
            # Attribution reads the sent messages: index what waits first, page by page and
            # outside this transaction.
            expand_pending(self.engine)
        body_read = _Read(route, body, read, count, inbound_id)
        return run_storing(
            self.engine,
            lambda connection, careful: self._store_read(
                connection, careful, kind, source, body_read, opt_out_keywords, raw
            ),
        )

    def ingest_group(
        self,
        kind: str,
        source: str,
        route: str,
        bodies: Sequence[bytes],
        opt_out_keywords: Collection[str] = DEFAULT_OPT_OUT_KEYWORDS,
        raw: bool = True,
    ) -> tuple[list[Ingested], int]:
        """``ingest`` for several bodies of one kind in ONE transaction: what each became, in
        order, and how many items were new in all. Bodies pushed while the previous transaction
        committed share the next one, so a backlog costs one commit (and, for reports, one
        insert and one counter update) per group, not per body. An unreadable body is still a
        dead letter of its own, and a value the database refuses is still found item by item.
        Items new in the group are counted for the group: each body's ``new`` is 0.

        :raises Exception: the store failed: nothing of the readable bodies was committed.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        results: list[Ingested | None] = [None] * len(bodies)
        readable: list[tuple[int, _Read]] = []
        for index, body in enumerate(bodies):
            try:
                read: Any = read_reports(body) if kind == "reports" else read_replies(body)
            except XmlBodyError as exc:
                error = f"{type(exc).__name__}: {exc}"
                results[index] = self._dead(kind, source, route, body, error, None)
                continue
            count = len(read.items) + len(read.refused)
            readable.append((index, _Read(route, body, read, count, None)))
        new = 0
        if readable:
            if kind == "replies":
                expand_pending(self.engine)

            def work(connection: Connection, careful: bool) -> tuple[list[Ingested], int]:
                if kind == "reports" and not careful:
                    return self._store_reports(connection, source, [r for _, r in readable], raw)
                done = [
                    self._store_read(connection, careful, kind, source, one, opt_out_keywords, raw)
                    for _, one in readable
                ]
                added = sum(result.new for result in done)
                for result in done:
                    result.new = 0
                return done, added

            stored, new = run_storing(self.engine, work)
            for (index, _), result in zip(readable, stored, strict=True):
                results[index] = result
        return [result for result in results if result is not None], new

    def _store_reports(
        self, connection: Connection, source: str, bodies: Sequence[_Read], raw: bool
    ) -> tuple[list[Ingested], int]:
        """Report bodies on ``connection``: each kept and checked, then every storable report
        of them in one insert (the fast path of ``ingest_group``)."""
        done: list[Ingested] = []
        rows: list[tuple[Any, ...]] = []
        refusals: list[list[tuple[str, str]]] = []
        kept: Sequence[int | None] = [None] * len(bodies)
        if raw:
            kept = keep_raw_group(
                connection, "reports", source, STORED, [(o.route, o.body, o.items) for o in bodies]
            )
        for one, inbound_id in zip(bodies, kept, strict=True):
            checked, _, refused = self.reports.checked(connection, one.read.items, source)
            rows += checked
            refusals.append(list(one.read.refused) + refused)
            done.append(Ingested(inbound_id, one.items))
        new = self.reports.insert_checked(connection, rows)
        for result, refused in zip(done, refusals, strict=True):
            result.quarantined = len(refused)
            if refused:
                quarantine_items(connection, "reports", source, result.inbound_id, refused)
                if result.inbound_id is not None:
                    set_state(connection, result.inbound_id, PARTIAL, result.items)
        return done, new

    def _store_read(
        self,
        connection: Connection,
        careful: bool,
        kind: str,
        source: str,
        body_read: _Read,
        opt_out_keywords: Collection[str],
        raw: bool,
    ) -> Ingested:
        """Store one read body on ``connection``: itself (unless kept already), its items, and
        the items the store cannot hold in quarantine."""
        read, items, inbound_id = body_read.read, body_read.items, body_read.inbound_id
        kept = inbound_id
        if kept is None and raw:
            route, body = body_read.route, body_read.body
            kept = keep_raw(connection, kind, source, route, body, STORED, items)
        result = Ingested(kept, items)
        refused = list(read.refused)
        if kind == "reports":
            result.new, more = self.reports.add_read(connection, read.items, source, careful)
        else:
            expand(connection)
            added, more = self.replies.add_read(
                connection, read.items, source, opt_out_keywords, careful
            )
            result.new, result.opted_out = added.new, added.opted_out
        refused += more
        result.quarantined = len(refused)
        if refused:
            quarantine_items(connection, kind, source, kept, refused)
        if kept is not None and (refused or inbound_id is not None):
            set_state(connection, kept, PARTIAL if refused else STORED, items)
        return result

    def _dead(
        self, kind: str, source: str, route: str, body: bytes, error: str, inbound_id: int | None
    ) -> Ingested:
        letter = keep_dead_letter(self.engine, kind, source, body, error, route, inbound_id)
        log.warning("%s %s body kept as dead letter %d: %s", source, kind, letter, error)
        return Ingested(inbound_id, dead_letter=letter, error=error)
