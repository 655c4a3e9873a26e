"""The send ledger: what each batch of a campaign became, written before and after the call.

Sends are not idempotent at the gateway, so a batch is claimed (a ``pending`` row committed)
before its request leaves and settled (``accepted`` / ``rejected`` / ``unknown``) after. A retry
of the task reads the ledger: accepted batches are skipped; a batch left ``pending`` or
``unknown`` may have reached the gateway and is never resent silently.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from airflow_provider_hbsms.store.schema import (
    batch_owners,
    reports,
    send_batches,
    send_leases,
    sent_messages,
)
from airflow_provider_hbsms.store.sent import SentColumns, expand_pending, journal
from airflow_provider_hbsms.store.upsert import (
    insert_ignore_values,
    stored_time,
    update_values,
    upsert,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)

PENDING, ACCEPTED, REJECTED, UNKNOWN = "pending", "accepted", "rejected", "unknown"
#: A try that has not renewed its lease for this long is taken for gone (seconds).
LEASE_TTL = 60.0
#: States after which resending could text someone twice.
MAY_HAVE_BEEN_SENT = (PENDING, UNKNOWN)
#: The columns of a newly claimed batch, in the order ``claim`` gives them.
_NEW_BATCH = (
    "batch_key",
    "campaign_key",
    "batch_no",
    "endpoint",
    "content_hash",
    "submitted",
    "segments",
    "state",
    "attempts",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True, slots=True)
class LedgerBatch:
    """A batch as the ledger knows it.

    :param batch_key: deterministic key of (campaign, batch number).
    :param batch_no: position in the campaign.
    :param state: pending, accepted, rejected or unknown.
    :param content_hash: hash of the batch's numbers and texts.
    :param submitted: messages in the batch.
    :param accepted: the gateway's ``N``, once known.
    :param attempts: how many times it was sent.
    :param error: why it was rejected or is unknown.
    """

    batch_key: str
    batch_no: int
    state: str
    content_hash: str
    submitted: int
    accepted: int | None
    attempts: int
    error: str | None


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of claiming a batch before sending it.

    :param granted: this attempt may send the batch.
    :param existing: what the ledger already held (None if the batch was new).
    """

    granted: bool
    existing: LedgerBatch | None


@dataclass(frozen=True, slots=True)
class Settlement:
    """What the gateway said about a batch (or that nobody knows).

    :param batch_key: the batch.
    :param state: accepted, rejected or unknown.
    :param accepted: the gateway's ``N``.
    :param error: why it was rejected or is unknown.
    """

    batch_key: str
    state: str
    accepted: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Holder:
    """The try holding a batch: its lease's owner and last heartbeat.

    :param owner: the lease's owner id.
    :param heartbeat_at: when it last renewed its lease (UTC).
    """

    owner: str
    heartbeat_at: datetime

    def is_fresh(self, ttl: float, now: datetime | None = None) -> bool:
        """Renewed within ``ttl`` seconds: the try is alive and will settle the batch."""
        now = now or datetime.now(UTC)
        return now - self.heartbeat_at < timedelta(seconds=ttl)


class Lease:
    """A try's lease on the batches it claims: an owner id and a heartbeat a thread renews
    every ``ttl / 4`` seconds while the try runs. Another try meeting one of these batches
    pending waits for it to settle while the lease is fresh; once the heartbeat is older than
    ``ttl`` the try is taken for gone and the batch's outcome for unknown.

    :param ledger: the ledger.
    :param campaign_key: the campaign the try sends.
    :param ttl: seconds without a renewal after which the lease has expired.
    """

    def __init__(self, ledger: SendLedger, campaign_key: str, ttl: float = LEASE_TTL) -> None:
        self.ledger = ledger
        self.campaign_key = campaign_key
        self.ttl = ttl
        self.owner = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Lease:
        self.renew()
        self._thread = threading.Thread(
            target=self._keep, name=f"hbsms-lease-{self.owner[:8]}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.ledger.release(self.owner)
        except Exception as exc:  # the store may be down: the lease then simply expires
            log.warning(
                "Could not release the send lease (%s); it expires by itself", type(exc).__name__
            )

    def renew(self) -> None:
        """Say this try is alive (commits)."""
        self.ledger.renew(self.owner, self.campaign_key)

    def _keep(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                self.renew()
            except Exception as exc:  # an outage: renewed again on the next beat
                log.warning("Could not renew the send lease (%s)", type(exc).__name__)


class SendLedger:
    """Read and write the send ledger.

    :param engine: the store's engine.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite takes one writer at a time and its busy handler sleeps the others for 1 ms,
        # then longer; sender threads settling while the next batch is claimed would pay that
        # on every batch. Queue this process's writers on a lock instead.
        self._writing = (
            threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._writing, self.engine.begin() as conn:
            yield conn

    @staticmethod
    def _row(row: Any) -> LedgerBatch:
        return LedgerBatch(
            row.batch_key,
            row.batch_no,
            row.state,
            row.content_hash,
            row.submitted,
            row.accepted,
            row.attempts,
            row.error,
        )

    def batches(self, campaign_key: str) -> dict[int, LedgerBatch]:
        """Every batch of a campaign, by batch number."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(send_batches).where(send_batches.c.campaign_key == campaign_key)
            )
            return {row.batch_no: self._row(row) for row in rows}

    def claim(
        self,
        *,
        batch_key: str,
        campaign_key: str,
        batch_no: int,
        endpoint: str,
        content_hash: str,
        submitted: int,
        segments: int,
        messages: SentColumns,
        resend: bool = False,
        settle: Sequence[Settlement] = (),
        owner: str | None = None,
    ) -> Claim:
        """Claim a batch for sending and commit, with its messages, before the request leaves.

        Granted for a new batch, a rejected one (nothing of it was accepted), or, with
        ``resend=True``, a pending/unknown one. The database decides between concurrent
        claimants: only one attempt can win a batch.

        :param messages: the batch's messages, journaled with the claim (``store/sent.py``).
        :param settle: other batches' outcomes, recorded first in the same transaction.
        :param owner: the claiming try's lease owner, recorded with the claim. A batch this
            owner holds pending already is granted again: its claim committed, but the
            answer was lost with the store's connection, so nothing of it was sent.
        """
        now = datetime.now(UTC)
        with self._transaction() as conn:
            self._record_settlements(conn, settle)
            stamp = stored_time(conn, now)
            row: tuple[Any, ...] = (batch_key, campaign_key, batch_no, endpoint, content_hash)
            row += (submitted, segments, PENDING, 1, stamp, stamp)
            if insert_ignore_values(conn, send_batches, _NEW_BATCH, [row], ["batch_key"]):
                journal(conn, batch_key, campaign_key, messages, now)
                self._own(conn, batch_key, owner)
                return Claim(True, None)
            existing = self._row(
                conn.execute(
                    select(send_batches).where(send_batches.c.batch_key == batch_key)
                ).one()
            )
            if existing.content_hash != content_hash:
                return Claim(False, existing)
            if (
                owner is not None
                and existing.state == PENDING
                and self._owner(conn, batch_key) == owner
            ):
                return Claim(True, None)
            allowed = (REJECTED,) + (MAY_HAVE_BEEN_SENT if resend else ())
            if existing.state not in allowed:
                return Claim(False, existing)
            # Conditional update: of two concurrent retries, only one sees rowcount 1.
            won = conn.execute(
                update(send_batches)
                .where(
                    send_batches.c.batch_key == batch_key,
                    send_batches.c.state == existing.state,
                    send_batches.c.attempts == existing.attempts,
                )
                .values(
                    state=PENDING,
                    attempts=existing.attempts + 1,
                    error=None,
                    updated_at=now,
                )
            ).rowcount
            if won:
                journal(conn, batch_key, campaign_key, messages, now)
                self._own(conn, batch_key, owner)
            return Claim(bool(won), existing)

    @staticmethod
    def _own(conn: Connection, batch_key: str, owner: str | None) -> None:
        if owner is not None:
            upsert(conn, batch_owners, {"batch_key": batch_key}, {"owner": owner})

    @staticmethod
    def _owner(conn: Connection, batch_key: str) -> str | None:
        return conn.execute(
            select(batch_owners.c.owner).where(batch_owners.c.batch_key == batch_key)
        ).scalar()

    # ------------------------------------------------------------------ leases

    def lease(self, campaign_key: str, ttl: float = LEASE_TTL) -> Lease:
        """A new lease for one try of ``campaign_key`` (use as a context manager)."""
        return Lease(self, campaign_key, ttl)

    def renew(self, owner: str, campaign_key: str) -> None:
        """Record that ``owner`` is alive now (commits)."""
        with self._transaction() as conn:
            upsert(
                conn,
                send_leases,
                {"owner": owner},
                {"campaign_key": campaign_key, "heartbeat_at": datetime.now(UTC)},
            )

    def release(self, owner: str) -> None:
        """End ``owner``'s lease: its pending batches are unknown from now on (commits)."""
        with self._transaction() as conn:
            conn.execute(delete(send_leases).where(send_leases.c.owner == owner))

    def holder(self, batch_key: str) -> Holder | None:
        """The try whose lease covers ``batch_key`` (None: no lease, or released)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(send_leases.c.owner, send_leases.c.heartbeat_at)
                .join(batch_owners, batch_owners.c.owner == send_leases.c.owner)
                .where(batch_owners.c.batch_key == batch_key)
            ).first()
        if row is None:
            return None
        beat = row.heartbeat_at
        return Holder(row.owner, beat if beat.tzinfo else beat.replace(tzinfo=UTC))

    def batch(self, batch_key: str) -> LedgerBatch | None:
        """One batch as the ledger holds it now."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(send_batches).where(send_batches.c.batch_key == batch_key)
            ).first()
        return None if row is None else self._row(row)

    def settle(
        self, batch_key: str, state: str, accepted: int | None = None, error: str | None = None
    ) -> None:
        """Record what the gateway said (or that nobody knows) and commit."""
        self.settle_many([Settlement(batch_key, state, accepted, error)])

    def settle_many(self, settlements: Sequence[Settlement]) -> None:
        """Settle several batches in one transaction."""
        if settlements:
            with self._transaction() as conn:
                self._record_settlements(conn, settlements)

    @staticmethod
    def _record_settlements(conn: Connection, settlements: Sequence[Settlement]) -> None:
        now = stored_time(conn, datetime.now(UTC))
        update_values(
            conn,
            send_batches,
            ["state", "accepted", "error", "updated_at"],
            "batch_key",
            [(s.state, s.accepted, s.error, now, s.batch_key) for s in settlements],
        )

    def reconcile_from_reports(self, batch_key: str, campaign_key: str) -> bool:
        """Settle a pending/unknown batch as accepted if any of its messages has a delivery
        report: the gateway only reports on what it accepted."""
        expand_pending(self.engine)  # the batch's messages, if no reader indexed them yet
        with self.engine.begin() as conn:
            reported = conn.execute(
                select(reports.c.id)
                .join(
                    sent_messages,
                    (sent_messages.c.msg_id == reports.c.msg_id)
                    & (sent_messages.c.mobile == reports.c.mobile),
                )
                .where(
                    sent_messages.c.campaign_key == campaign_key,
                    sent_messages.c.batch_key == batch_key,
                )
                .limit(1)
            ).first()
            if reported is None:
                return False
            conn.execute(
                update(send_batches)
                .where(
                    send_batches.c.batch_key == batch_key,
                    send_batches.c.state.in_(MAY_HAVE_BEEN_SENT),
                )
                .values(state=ACCEPTED, error="reconciled from delivery reports")
            )
            return True
