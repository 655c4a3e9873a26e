"""The states of a batch in the send ledger and the moves between them, in one table.

::

    (new) --claim--> pending --settle--> accepted | rejected | unknown
    rejected --claim--> pending          (nothing of it was accepted: sent again)
    pending | unknown --resend--> pending  (only with resend_unknown=True)
    pending | unknown --reconcile--> accepted  (a delivery report proves it was accepted)

``accepted`` is final. The values are what ``hbsms_send_batches.state`` stores.
"""

from __future__ import annotations

from enum import StrEnum

from airflow_provider_hbsms.exceptions import LedgerStateError


class BatchState(StrEnum):
    """A batch's state in the ledger (the stored strings)."""

    #: claimed and committed; its request may be leaving or answered but not recorded.
    PENDING = "pending"
    #: the gateway accepted it (``0#N``).
    ACCEPTED = "accepted"
    #: certainly not accepted: refused by the gateway, or claimed but never posted.
    REJECTED = "rejected"
    #: it may or may not have reached the gateway.
    UNKNOWN = "unknown"


PENDING, ACCEPTED, REJECTED, UNKNOWN = (
    BatchState.PENDING,
    BatchState.ACCEPTED,
    BatchState.REJECTED,
    BatchState.UNKNOWN,
)

#: The "state" of a batch not in the ledger yet.
NEW = None

#: Every allowed move: a state and the states it may become.
TRANSITIONS: dict[BatchState | None, frozenset[BatchState]] = {
    NEW: frozenset({PENDING}),
    PENDING: frozenset({ACCEPTED, REJECTED, UNKNOWN, PENDING}),
    UNKNOWN: frozenset({ACCEPTED, PENDING}),
    REJECTED: frozenset({PENDING}),
    ACCEPTED: frozenset(),
}

#: States after which resending could text someone twice: claimed again only when asked
#: (``resend_unknown=True``).
MAY_HAVE_BEEN_SENT = frozenset({PENDING, UNKNOWN})
#: What the answer to a posted (or never posted) batch settles it as.
SETTLED = frozenset({ACCEPTED, REJECTED, UNKNOWN})


def _refused(
    current: BatchState | None, target: BatchState | str, batch_key: str
) -> LedgerStateError:
    allowed = sorted(state.value for state in TRANSITIONS.get(current, frozenset()))
    return LedgerStateError(
        None if current is None else current.value, str(target), allowed, batch_key
    )


def state_of(value: str) -> BatchState:
    """A stored or given state as a ``BatchState``."""
    try:
        return BatchState(value)
    except ValueError:
        known = ", ".join(s.value for s in BatchState)
        raise ValueError(f"{value!r} is not a send ledger state (one of {known})") from None


def check_move(current: BatchState | None, target: BatchState, batch_key: str = "") -> None:
    """Raise ``LedgerStateError`` unless the table allows ``current`` -> ``target``."""
    if target not in TRANSITIONS.get(current, frozenset()):
        raise _refused(current, target, batch_key)


def may_claim(current: BatchState | None, resend: bool) -> bool:
    """Whether a batch in ``current`` may be claimed to be sent: always when new or rejected,
    when it may have been sent only with ``resend``; never once accepted."""
    if PENDING not in TRANSITIONS.get(current, frozenset()):
        return False
    return resend or current not in MAY_HAVE_BEEN_SENT


def check_settlement(target: BatchState, batch_key: str = "") -> BatchState:
    """A claimed (pending) batch's outcome, checked against the table."""
    if target not in SETTLED:
        raise _refused(PENDING, target, batch_key)
    check_move(PENDING, target, batch_key)
    return target
