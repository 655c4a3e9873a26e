"""Validated messages, one at a time (``Message``) or column by column (``Messages``).

A campaign holds millions of messages, so the engine keeps them as columns. Text columns that
pandas already holds in Arrow (its default string storage) stay Arrow arrays until a batch is
formed: no Python string per row is made before it is needed, and kept messages cost what the
input costs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, NamedTuple


class Message(NamedTuple):
    """One validated message of a campaign.

    :param row: its input row (0-based).
    :param mobile: the normalized number.
    :param content: the text (for same-content campaigns, the campaign's text).
    :param ext: the ext.
    :param msg_id: the id given in the input, or None to generate one.
    :param segments: billed segments (signature included).
    """

    row: int
    mobile: str
    content: str
    ext: str
    msg_id: str | None
    segments: int


#: A column: a list, a range (row numbers) or an Arrow array.
Column = Any


def _is_arrow(column: Column) -> bool:
    """An Arrow array, told without importing pyarrow (only column-wise checks make them, and
    DAG files importing the operators should not pay for pyarrow)."""
    return type(column).__module__.startswith("pyarrow")


def _as_list(column: Column) -> list[Any]:
    if _is_arrow(column):
        return column.to_pylist()
    return column if isinstance(column, list) else list(column)


def _where(column: Column, keep: list[bool]) -> Column:
    if _is_arrow(column):
        import pyarrow as pa

        return column.filter(pa.array(keep, pa.bool_()))
    return list(itertools.compress(column, keep))


def _slice(column: Column, start: int, stop: int) -> Column:
    if _is_arrow(column):
        return column.slice(start, stop - start)
    return column[start:stop]


def _concat(parts: list[Column]) -> Column:
    if all(_is_arrow(p) for p in parts) and len({p.type for p in parts}) == 1:
        import pyarrow as pa

        return pa.concat_arrays(parts)
    return list(itertools.chain.from_iterable(_as_list(p) for p in parts))


@dataclass(slots=True)
class Messages:
    """Validated messages, column by column.

    :param rows: input rows (0-based).
    :param mobiles: normalized numbers.
    :param contents: texts.
    :param exts: exts.
    :param msg_ids: ids given in the input, or None to generate one.
    :param segments: billed segments of each.
    """

    rows: Column
    mobiles: Column
    contents: Column
    exts: Column
    msg_ids: Column
    segments: Column

    def __len__(self) -> int:
        return len(self.rows)

    def _columns(self) -> tuple[Column, ...]:
        return (self.rows, self.mobiles, self.contents, self.exts, self.msg_ids, self.segments)

    def total_segments(self) -> int:
        if _is_arrow(self.segments):
            import pyarrow.compute as pc

            return int(pc.sum(self.segments).as_py() or 0)
        return sum(self.segments)

    def where(self, keep: list[bool]) -> Messages:
        """The messages whose ``keep`` is true."""
        return Messages(*(_where(c, keep) for c in self._columns()))

    def slice(self, start: int, stop: int) -> Messages:
        return Messages(*(_slice(c, start, stop) for c in self._columns()))

    def as_lists(self) -> Messages:
        """Every column as a Python list (what the wire format and the ledger take)."""
        return Messages(*(_as_list(c) for c in self._columns()))

    def mobile_list(self) -> list[str]:
        return _as_list(self.mobiles)

    @classmethod
    def of(cls, messages: list[Message]) -> Messages:
        """From messages checked one by one."""
        if not messages:
            return cls([], [], [], [], [], [])
        return cls(*(list(column) for column in zip(*messages, strict=True)))

    @classmethod
    def concat(cls, parts: list[Messages]) -> Messages:
        if len(parts) == 1:
            return parts[0]
        return cls(*(_concat(list(c)) for c in zip(*(p._columns() for p in parts), strict=True)))
