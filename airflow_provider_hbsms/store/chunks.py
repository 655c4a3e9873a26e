"""Statements over many values, cut to fit SQLite's limit on bound parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

T = TypeVar("T")

#: Bound parameters per statement: SQLite's oldest limit (builds since 3.32 allow 32766). Every
#: list of values the store binds is cut to fit it, so any SQLite build can hold the store.
SQLITE_MAX_VARIABLES = 999
#: Values per ``IN (...)``: within that limit, with room for the statement's other parameters.
IN_CHUNK = 900


def in_chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in consecutive slices of at most ``size`` (by default, one ``IN (...)``'s
    worth)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
