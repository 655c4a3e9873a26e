"""The send ledger: what each batch of a campaign became, written before and after the call.

Sends are not idempotent at the gateway, so a batch is claimed (a ``pending`` row committed)
before its request leaves and settled (``accepted`` / ``rejected`` / ``unknown``) after. A retry
of the task reads the ledger: accepted batches are skipped; a batch left ``pending`` or
``unknown`` may have reached the gateway and is never resent silently.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from airflow_provider_hbsms.store.batch_states import (
    ACCEPTED,
    MAY_HAVE_BEEN_SENT,
    NEW,
    PENDING,
    TRANSITIONS,
    BatchState,
    check_move,
    check_settlement,
    may_claim,
    state_of,
)
from airflow_provider_hbsms.store.leases import LEASE_TTL, Holder, Lease
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
    :param state: its state (``batch_states``).
    :param content_hash: hash of the batch's numbers and texts.
    :param submitted: messages in the batch.
    :param accepted: the gateway's ``N``, once known.
    :param attempts: how many times it was sent.
    :param error: why it was rejected or is unknown.
    """

    batch_key: str
    batch_no: int
    state: BatchState
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
    """What the gateway said about a claimed batch (or that nobody knows).

    :param batch_key: the batch.
    :param state: accepted, rejected or unknown (any other raises ``LedgerStateError``).
    :param accepted: the gateway's ``N``.
    :param error: why it was rejected or is unknown.
    """

    batch_key: str
    state: BatchState
    accepted: int | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        check_settlement(self.state, self.batch_key)


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
            state_of(row.state),
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
            check_move(NEW, PENDING, batch_key)
            row: tuple[Any, ...] = (batch_key, campaign_key, batch_no, endpoint, content_hash)
            row += (submitted, segments, PENDING.value, 1, stamp, stamp)
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
            if not may_claim(existing.state, resend):
                return Claim(False, existing)
            check_move(existing.state, PENDING, batch_key)
            # Conditional update: of two concurrent retries, only one sees rowcount 1.
            won = conn.execute(
                update(send_batches)
                .where(
                    send_batches.c.batch_key == batch_key,
                    send_batches.c.state == existing.state.value,
                    send_batches.c.attempts == existing.attempts,
                )
                .values(
                    state=PENDING.value,
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
        self,
        batch_key: str,
        state: BatchState | str,
        accepted: int | None = None,
        error: str | None = None,
    ) -> None:
        """Record what the gateway said (or that nobody knows) and commit."""
        self.settle_many([Settlement(batch_key, state_of(state), accepted, error)])

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
            [(s.state.value, s.accepted, s.error, now, s.batch_key) for s in settlements],
        )

    def reconcile_from_reports(self, batch_key: str, campaign_key: str) -> bool:
        """Settle a pending/unknown batch as accepted if any of its messages has a delivery
        report: the gateway only reports on what it accepted."""
        reconcilable = [s.value for s in MAY_HAVE_BEEN_SENT if ACCEPTED in TRANSITIONS[s]]
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
                    send_batches.c.state.in_(reconcilable),
                )
                .values(state=ACCEPTED.value, error="reconciled from delivery reports")
            )
            return True
