"""What the receiver does with a push, without any web framework: check the caller, keep the
body and store its items durably (``store/intake.py``), within the gateway's timeout. The ASGI
layer (``asgi.py``) only moves bytes in and out.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.exc import OperationalError

from airflow_provider_hbsms.protocol.endpoints import MAX_REPLIES_PER_BODY, MAX_REPORTS_PER_BODY
from airflow_provider_hbsms.receiver.limits import ReceiverLimits
from airflow_provider_hbsms.store.keywords import resolve_opt_out_keywords
from airflow_provider_hbsms.store.sent import expand_pending

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from airflow_provider_hbsms.store import Store
    from airflow_provider_hbsms.store.intake import Ingested

log = logging.getLogger(__name__)

ACCEPTED, REFUSED = "0", "9"
#: Seconds a SQLite statement of the receiver waits for another process's lock before the
#: receiver looks at its deadline again.
BUSY_TIMEOUT = 1.0
_RETRY_PAUSE = 0.05
DEFAULT_MAX_BODY = 1024 * 1024
KINDS = ("reports", "replies")
#: Writer threads for a database that runs concurrent writers (PostgreSQL): while one
#: transaction waits for the server, the next group is prepared and sent on another connection.
CONCURRENT_WRITERS = 2


@dataclass
class ReceiverSettings:
    """How the receiver runs.

    :param token: the secret path segment the gateway's URL must carry; empty refuses all.
    :param store_factory: returns the store to write to (called once, lazily).
    :param allowed_ips: IPs or networks allowed to push; empty allows any.
    :param max_body: largest body accepted, in bytes.
    :param opt_out_keywords: replies that put their sender on the opt-out list; default
        ``[hbsms] opt_out_keywords``, read when the receiver starts.
    :param trusted_proxies: IPs or networks of reverse proxies whose ``X-Forwarded-For`` is
        believed (see ``access.py``); empty ignores the header.
    :param limits: time and connection limits (``limits.py``).
    :param answer_within: seconds within which every push is answered (the gateway waits 20):
        a push not committed by then is answered non-``0``, and the gateway pushes it again.
    :param keep_raw: keep every body as received (``hbsms_inbound``); off only to measure
        what that costs.
    """

    token: str
    store_factory: Callable[[], Store]
    allowed_ips: list[str] = field(default_factory=list)
    max_body: int = DEFAULT_MAX_BODY
    opt_out_keywords: frozenset[str] | None = None
    trusted_proxies: list[str] = field(default_factory=list)
    limits: ReceiverLimits = field(default_factory=ReceiverLimits)
    answer_within: float = 15.0
    keep_raw: bool = True


class Refused(Exception):
    """A push the receiver does not accept; the gateway gets a non-``0`` answer.

    :param status: the HTTP status to answer with.
    :param reason: why, for the log.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class PushIntake:
    """Stores pushed bodies, a group at a time (``writer.py`` groups them).

    :param settings: how the receiver runs.
    """

    def __init__(self, settings: ReceiverSettings) -> None:
        self.settings = settings
        # Read once: every push this receiver stores is classified alike.
        self.opt_out_keywords = resolve_opt_out_keywords(settings.opt_out_keywords)
        self._store: Store | None = None
        self._at_once: Store | None = None
        self._opening = threading.Lock()

    def store(self) -> Store:
        """The store (opened on first use). On SQLite the receiver writes through an engine of
        its own with short lock waits: a push must be answered within the gateway's 20 s
        whatever holds the database."""
        with self._opening:
            if self._store is None:
                store = self.settings.store_factory()
                if store.engine.dialect.name == "sqlite":
                    self._at_once = store.with_busy_timeout(0)
                    store = store.with_busy_timeout(BUSY_TIMEOUT)
                self._store = store
            return self._store

    def stores_at_once(self) -> bool:
        """The store is open and SQLite: a group of report pushes can be stored right where it
        is (on the event loop) through a connection that never waits for a lock. Writers
        take turns there anyway, and handing each group to a thread costs the interpreter
        lock's hand-overs, a large part of a push's CPU."""
        return self._at_once is not None

    def writers(self) -> int:
        """How many transactions may store pushes at once: one on SQLite (one writer at a
        time anyway) and until the store is open (the first push opens it), more where the
        database runs them side by side."""
        opened = self._store
        if opened is None or opened.engine.dialect.name == "sqlite":
            return 1
        return CONCURRENT_WRITERS

    def ingest_group_at_once(
        self, kind: str, bodies: Sequence[bytes]
    ) -> list[Exception | None] | None:
        """``ingest_group`` without waiting at all: None when the database's write lock is held
        (by another process, or by this one's writer thread), to be stored from the thread."""
        if self._at_once is None:
            return None
        try:
            results, new = self._ingest(self._at_once, kind, bodies)
        except (OperationalError, sqlite3.OperationalError) as exc:
            if _locked(exc):
                return None
            raise
        log.debug("%d pushes to %s stored (%d new items)", len(bodies), kind, new)
        return [self._outcome(kind, result) for result in results]

    def index_backlog(self, deadline: float) -> None:
        """Index the sent messages not indexed yet, a committed page at a time, before a reply
        is stored (attribution reads them). Runs outside the writer, so that report pushes
        stored meanwhile wait for a page at most, not for a whole campaign.

        :raises Refused: the store stayed busy until ``deadline``.
        """
        target = self.store()
        self._until(deadline, lambda: expand_pending(target.engine))

    def ingest_group(
        self, kind: str, bodies: Sequence[bytes], deadlines: Sequence[float]
    ) -> list[Exception | None]:
        """Keep the bodies, store their items (quarantining those the store cannot hold) and
        commit, in one transaction; for each body None once committed, or why it was not
        stored. Waits for the database until each body's deadline (``time.monotonic()``),
        never longer.

        Outcomes are ``Refused`` for a body that cannot be read (kept as a dead letter:
        ``400``) or whose deadline passed while the store stayed busy (``503``: the gateway
        pushes again).
        """
        target = self.store()
        outcomes: dict[int, Exception | None] = {}
        waiting = list(range(len(bodies)))
        while True:
            try:
                results, new = self._ingest(target, kind, [bodies[index] for index in waiting])
            except (OperationalError, sqlite3.OperationalError) as exc:
                if not _locked(exc):
                    raise  # the store is down, not busy: answered 503 all the same
                late = time.monotonic() + _RETRY_PAUSE
                for index in waiting:
                    if deadlines[index] <= late:
                        outcomes[index] = Refused(503, f"the store stayed busy: {_cause(exc)}")
                waiting = [index for index in waiting if index not in outcomes]
                if not waiting:
                    break
                time.sleep(_RETRY_PAUSE)
                continue
            for index, result in zip(waiting, results, strict=True):
                outcomes[index] = self._outcome(kind, result)
            log.debug("%d pushes to %s stored (%d new items)", len(waiting), kind, new)
            break
        return [outcomes[index] for index in range(len(bodies))]

    def _ingest(
        self, target: Store, kind: str, bodies: Sequence[bytes]
    ) -> tuple[list[Ingested], int]:
        """Pushed bodies into ``target``, in one transaction, as every push is stored."""
        return target.intake.ingest_group(
            kind,
            "push",
            f"push:{kind}",
            bodies,
            opt_out_keywords=self.opt_out_keywords,
            raw=self.settings.keep_raw,
        )

    def _outcome(self, kind: str, result: Ingested) -> Exception | None:
        if result.dead_letter is not None:
            letter = result.dead_letter
            return Refused(400, f"unreadable body (dead letter {letter}): {result.error}")
        limit = MAX_REPORTS_PER_BODY if kind == "reports" else MAX_REPLIES_PER_BODY
        if result.items > limit:
            log.warning(
                "push of %d %s (the protocol says at most %d): stored", result.items, kind, limit
            )
        if result.quarantined:
            log.warning("push of %d %s: %d quarantined", result.items, kind, result.quarantined)
        return None

    def _until(self, deadline: float, work: Callable[[], object]) -> None:
        while True:
            try:
                work()
                return
            except (OperationalError, sqlite3.OperationalError) as exc:
                if not _locked(exc):
                    raise
                if time.monotonic() + _RETRY_PAUSE >= deadline:
                    raise Refused(503, f"the store stayed busy: {_cause(exc)}") from None
            time.sleep(_RETRY_PAUSE)


def _locked(exc: Exception) -> bool:
    """SQLite's "database is locked" / "busy": another writer, not a broken store (raised
    by SQLAlchemy, or by the driver itself on the paths that write straight to it)."""
    text = _cause(exc).lower()
    return "locked" in text or "busy" in text


def _cause(exc: Exception) -> str:
    """The driver's message, without the statement and its parameters."""
    return str(getattr(exc, "orig", None) or exc)
