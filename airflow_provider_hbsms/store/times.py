"""The store's times: written in UTC, handed back naive by SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def as_utc(value: datetime) -> datetime: ...


@overload
def as_utc(value: None) -> None: ...


def as_utc(value: datetime | None) -> datetime | None:
    """A time read from the store, aware: SQLite hands back naive datetimes, and the store
    writes UTC, so a naive one is UTC (an aware one, and None, are returned as they are)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
