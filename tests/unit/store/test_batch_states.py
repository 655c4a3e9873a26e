"""The send ledger's states and moves: one table, allowed moves pass, refused ones raise a clear
error, and the stored strings are the ones the ledger always stored."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from airflow_provider_hbsms import LedgerStateError
from airflow_provider_hbsms.store.batch_states import (
    NEW,
    TRANSITIONS,
    BatchState,
    check_move,
    check_settlement,
    may_claim,
    state_of,
)
from airflow_provider_hbsms.store.ledger import Settlement
from airflow_provider_hbsms.store.schema import send_batches
from airflow_provider_hbsms.store.sent import SentColumns

PENDING, ACCEPTED, REJECTED, UNKNOWN = (
    BatchState.PENDING,
    BatchState.ACCEPTED,
    BatchState.REJECTED,
    BatchState.UNKNOWN,
)

ALLOWED = {
    (NEW, PENDING),
    (PENDING, ACCEPTED),
    (PENDING, REJECTED),
    (PENDING, UNKNOWN),
    (PENDING, PENDING),
    (UNKNOWN, ACCEPTED),
    (UNKNOWN, PENDING),
    (REJECTED, PENDING),
}
EVERY_MOVE = [(a, b) for a in (NEW, *BatchState) for b in BatchState]


def test_the_stored_strings_do_not_change() -> None:
    assert [s.value for s in BatchState] == ["pending", "accepted", "rejected", "unknown"]
    assert state_of("unknown") is UNKNOWN


def test_the_table_holds_exactly_the_allowed_moves() -> None:
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == ALLOWED


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED, key=str))
def test_allowed_moves_pass(current: BatchState | None, target: BatchState) -> None:
    check_move(current, target)


@pytest.mark.parametrize(
    ("current", "target"), [m for m in EVERY_MOVE if m not in ALLOWED], ids=str
)
def test_refused_moves_raise_naming_the_batch_and_the_states(
    current: BatchState | None, target: BatchState
) -> None:
    with pytest.raises(LedgerStateError) as raised:
        check_move(current, target, "c/0")
    message = str(raised.value)
    assert "'c/0'" in message
    assert repr(target.value) in message
    assert (current is None and "not in the ledger" in message) or repr(current.value) in message


def test_accepted_is_final() -> None:
    with pytest.raises(LedgerStateError, match="none, it is final"):
        check_move(ACCEPTED, PENDING)


def test_a_claim_resends_only_when_asked() -> None:
    claimable = {
        (state, resend): may_claim(state, resend=resend)
        for state in (NEW, *BatchState)
        for resend in (False, True)
    }
    assert claimable == {
        (NEW, False): True,
        (NEW, True): True,
        (REJECTED, False): True,
        (REJECTED, True): True,
        (PENDING, False): False,
        (PENDING, True): True,
        (UNKNOWN, False): False,
        (UNKNOWN, True): True,
        (ACCEPTED, False): False,
        (ACCEPTED, True): False,
    }


def test_a_settlement_is_an_outcome_of_a_claimed_batch() -> None:
    for outcome in (ACCEPTED, REJECTED, UNKNOWN):
        assert check_settlement(outcome) is outcome
        Settlement("b", outcome)
    with pytest.raises(LedgerStateError, match="from 'pending' to 'pending'"):
        Settlement("b", PENDING)


def _claim(store: Any, **kwargs: Any) -> Any:
    return store.ledger.claim(
        batch_key="b0",
        campaign_key="c",
        batch_no=0,
        endpoint="/hSmsSend.do",
        content_hash="h",
        submitted=1,
        segments=1,
        messages=SentColumns(["m"], ["13500000000"], [""], [1]),
        **kwargs,
    )


def test_the_ledger_follows_the_table(store) -> None:
    assert _claim(store).granted
    with store.engine.connect() as conn:
        stored = conn.execute(select(send_batches.c.state)).scalar()
    assert type(stored) is str
    assert stored == "pending"
    with pytest.raises(LedgerStateError):
        store.ledger.settle("b0", "pending")
    with pytest.raises(ValueError, match="not a send ledger state"):
        store.ledger.settle("b0", "sent")
    store.ledger.settle("b0", "unknown", error="read timeout")
    assert not _claim(store).granted  # may have been sent: only with resend
    assert _claim(store, resend=True).granted
    store.ledger.settle("b0", ACCEPTED, accepted=1)
    batch = store.ledger.batch("b0")
    assert (batch.state, batch.attempts) == (ACCEPTED, 2)
    assert not _claim(store, resend=True).granted  # final
