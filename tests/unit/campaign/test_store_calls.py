"""A store outage as the campaign sees it, with the driver's errors simulated: bounded
reconnects, then an error that names the outage (no SQL, no parameters); a passing outage is
ridden out and other errors pass through."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from airflow_provider_hbsms import StoreUnavailableError
from airflow_provider_hbsms.campaign.storecalls import StoreCalls, is_store_outage

SQL_WORDS = ("SELECT", "INSERT", "UPDATE", "parameters", "hbsms_send_batches")


def _driver_error() -> OperationalError:
    """What SQLAlchemy raises when the server kills the connection: SQL and parameters in it."""
    return OperationalError(
        "UPDATE hbsms_send_batches SET state=%(state)s WHERE batch_key = %(key)s",
        {"state": "accepted", "key": "13500000001"},
        Exception("terminating connection due to administrator command"),
        connection_invalidated=True,
    )


def test_reconnects_are_bounded_and_the_error_shows_no_sql() -> None:
    calls = 0

    def claim() -> None:
        nonlocal calls
        calls += 1
        raise _driver_error()

    store = StoreCalls("dag/send/run", "postgresql://hbsms@db.example:5432/sms")
    with pytest.raises(StoreUnavailableError) as raised:
        store.run("claiming batch 7", claim, pauses=(0, 0, 0), unrecorded=lambda: [5, 6])
    assert calls == 4
    message = str(raised.value)
    assert "the store (postgresql://hbsms@db.example:5432/sms) was unreachable" in message
    assert "claiming batch 7" in message
    assert "4 attempt(s)" in message
    assert "Nothing was sent twice" in message
    assert "Batch(es) 5, 6 were posted but their outcome could not be recorded" in message
    assert not any(word in message for word in SQL_WORDS)
    assert "13500000001" not in message
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_a_passing_outage_is_ridden_out_and_other_errors_pass_through() -> None:
    attempts = iter([_driver_error(), _driver_error(), "claimed"])

    def flaky() -> str:
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    store = StoreCalls("c", "sqlite:///x.db")
    assert store.run("claiming batch 0", flaky, pauses=(0, 0, 0)) == "claimed"
    with pytest.raises(ZeroDivisionError):
        store.run("claiming batch 0", lambda: 1 / 0, pauses=(0,))
    assert not is_store_outage(ValueError("no"))


def test_the_outage_error_is_a_campaign_error() -> None:
    from airflow_provider_hbsms import CampaignError

    error = StoreUnavailableError("c", "claiming batch 1", "sqlite:///s.db", "X", 5, 7.5)
    assert isinstance(error, CampaignError)
    assert error.unrecorded == []
