"""What the store can hold: the checks an item passes before it is stored, and the database
errors that mean "this value", not "this database", so that one bad item is quarantined and
never costs the rest of its body."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DataError, IntegrityError, StatementError

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Connection

    from airflow_provider_hbsms.store.migrations import Limits


class Unstorable(ValueError):
    """An item the store cannot hold as it is.

    :param reason: which field breaks which rule.
    """


def too_long(name: str, value: str, limit: int) -> None:
    """:raises Unstorable: ``value`` is longer than its column holds."""
    if len(value) > limit:
        raise Unstorable(f"{name} has {len(value)} characters, the store holds {limit}")


def utc(name: str, value: datetime | None) -> datetime | None:
    """``value`` in UTC, as every store keeps times.

    :raises Unstorable: it has no UTC equivalent (``0001-01-01`` in China time,
        ``9999-12-31T23:59:59-05:00``).
    """
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise Unstorable(f"{name} {value.isoformat()} is out of range in UTC") from None


def sub_seq(value: int, limits: Limits) -> int:
    """:raises Unstorable: a segment number outside what the column holds."""
    if not 0 <= value <= limits.sub_seq:
        raise Unstorable(f"sub_seq {value} is out of range 0..{limits.sub_seq}")
    return value


def is_bad_value(exc: BaseException) -> bool:
    """The database (or its driver) refused a value, not the statement or the connection: a
    number out of range, a string too long, an invalid time."""
    if isinstance(exc, (OverflowError, UnicodeEncodeError)):
        return True
    if isinstance(exc, (DataError, IntegrityError)):
        return True
    if isinstance(exc, StatementError) and isinstance(exc.orig, (OverflowError, ValueError)):
        return True
    code = getattr(getattr(exc, "orig", exc), "pgcode", None) or ""
    return code.startswith("22")


def one_by_one(connection: Connection, work: Callable[[], Any]) -> str | None:
    """Run ``work`` so that a refused value fails it alone: inside a savepoint on PostgreSQL
    (where an error aborts the transaction), as is on SQLite (where a value the driver cannot
    bind fails before the statement runs). Returns why the value was refused, or None."""
    if connection.dialect.name == "postgresql":
        savepoint = connection.begin_nested()
        try:
            work()
        except Exception as exc:
            savepoint.rollback()
            if not is_bad_value(exc):
                raise
            return _reason(exc)
        savepoint.commit()
        return None
    try:
        work()
    except Exception as exc:
        if not is_bad_value(exc):
            raise
        return _reason(exc)
    return None


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"the database refused it: {text[0] if text else type(exc).__name__}"
