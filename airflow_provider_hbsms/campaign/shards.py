"""Splitting a large campaign input into shards by a hash of each row's normalized number.

A number always lands in the same shard, whatever way it was written (``+86 139-...``,
``13900000000``, an integer column), so de-duplication and opt-outs inside each shard hold for
the whole campaign, and the shards can be sent side by side by mapped tasks on several workers.

The split is deterministic: the same input gives the same shards, row for row in input order,
which a retried send needs (its batch keys and content hashes must match the earlier try's).
Rows are streamed chunk by chunk and written to one Parquet file per shard, so an input of
millions of rows never sits in memory whole.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_hbsms.campaign.inputs import DEFAULT_CHUNK_ROWS, as_storage_path, row_source
from airflow_provider_hbsms.exceptions import InvalidFieldError
from airflow_provider_hbsms.protocol.validation import MOBILE, normalize_mobile

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import numpy as np
    import pandas as pd

MAX_SHARDS = 10_000
#: Regular expression of a number that needs no normalization (anchored for Arrow kernels).
_PLAIN_MOBILE = f"^{MOBILE.pattern}$"


def _mix(keys: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer: spreads numbers that share prefixes or run in sequence evenly
    over the shards, and is the same in every process and on every platform."""
    import numpy as np

    with np.errstate(over="ignore"):
        z = keys.astype(np.uint64, copy=True)
        z ^= z >> np.uint64(30)
        z *= np.uint64(0xBF58476D1CE4E5B9)
        z ^= z >> np.uint64(27)
        z *= np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return z


def _key_of(value: object) -> int:
    """The hash key of one value: its normalized number, or, for a value that is not a
    number (the send names such rows), a stable hash of its text."""
    try:
        return int(normalize_mobile(value))
    except InvalidFieldError:
        return zlib.crc32(repr(value).encode("utf-8")) | (1 << 40)


def shard_of(numbers: Sequence[object] | pd.Series | Any, shards: int) -> np.ndarray:
    """The shard (``0 .. shards-1``) of each number, from a hash of its normalized form.

    Numbers already in their 11-digit form (strings or integers, the usual case) are hashed in
    bulk; any other value is normalized one by one with ``normalize_mobile``. A value that is
    no mobile number at all still gets a shard (a hash of its text), so the send that gets it
    names it as an invalid row instead of it being lost.

    :param numbers: the mobile column (a pandas Series, an Arrow array or a list).
    :param shards: how many shards (1 to ``MAX_SHARDS``).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    _check_count(shards)
    if isinstance(numbers, pa.ChunkedArray | pa.Array):
        array = numbers
    else:
        try:
            array = pa.array(numbers, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types: one by one
            array = pa.array([str(v) for v in numbers])
            numbers = list(numbers)
    keys = np.zeros(len(array), dtype=np.uint64)
    plain = np.zeros(len(array), dtype=bool)
    if pa.types.is_integer(array.type):
        ints = pc.fill_null(array.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
        plain = (ints >= 13_000_000_000) & (ints <= 19_999_999_999)
        keys[plain] = ints[plain].astype(np.uint64)
    elif pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        matched = pc.fill_null(pc.match_substring_regex(array, _PLAIN_MOBILE), False)
        plain = matched.to_numpy(zero_copy_only=False)
        if plain.any():
            digits = pc.filter(array, matched).cast(pa.int64()).to_numpy(zero_copy_only=False)
            keys[plain] = digits.astype(np.uint64)
    if not plain.all():
        if isinstance(numbers, pa.ChunkedArray | pa.Array):
            values = numbers.to_pylist()
        else:
            values = numbers.tolist() if hasattr(numbers, "tolist") else list(numbers)
        for i in np.flatnonzero(~plain):
            keys[i] = _key_of(values[i])
    return (_mix(keys) % np.uint64(shards)).astype(np.int64)


def _check_count(shards: int) -> None:
    if not isinstance(shards, int) or isinstance(shards, bool) or not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"shards must be an integer from 1 to {MAX_SHARDS} (got {shards!r})")


@dataclass(frozen=True)
class ShardFile:
    """One written shard.

    :param index: the shard number (0-based).
    :param path: where its Parquet file is.
    :param rows: how many input rows it holds.
    """

    index: int
    path: str
    rows: int


def shard_name(index: int, shards: int) -> str:
    """``shard-00003-of-00016.parquet``: sorts in shard order."""
    return f"shard-{index:05d}-of-{shards:05d}.parquet"


class _ShardWriters:
    """One Parquet writer per shard, opened on first use; a local file is written under a
    temporary name and renamed when complete, so no reader ever sees half a shard."""

    def __init__(self, out_dir: Any, shards: int) -> None:
        self.out_dir = out_dir
        self.shards = shards
        self.local = isinstance(out_dir, Path)
        self.writers: dict[int, Any] = {}
        self.handles: dict[int, Any] = {}
        self.rows = [0] * shards
        self.schema: Any = None

    def _target(self, index: int) -> Any:
        return self.out_dir / shard_name(index, self.shards)

    def _writing(self, index: int) -> Any:
        target = self._target(index)
        return target.with_name("." + target.name + ".part") if self.local else target

    def write(self, index: int, table: Any) -> None:
        import pyarrow.parquet as pq

        if index not in self.writers:
            self.handles[index] = self._writing(index).open("wb")
            self.writers[index] = pq.ParquetWriter(self.handles[index], self.schema)
        self.writers[index].write_table(table)
        self.rows[index] += table.num_rows

    def close(self, complete: bool) -> list[ShardFile]:
        if complete and self.schema is not None:
            for index in range(self.shards):  # every shard exists, empty ones too
                if index not in self.writers:
                    self.write(index, self.schema.empty_table())
        for index, writer in self.writers.items():
            writer.close()
            self.handles[index].close()
        if not complete:
            for index in self.writers:
                if self.local:
                    self._writing(index).unlink(missing_ok=True)
            return []
        if self.local:
            for index in self.writers:
                os.replace(self._writing(index), self._target(index))
        return [
            ShardFile(index, str(self._target(index)), self.rows[index])
            for index in sorted(self.writers)
        ]


def split_into_shards(
    input: Any,
    out_dir: Any,
    shards: int,
    mobile_column: str = "mobile",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    csv_encoding: str = "utf-8",
) -> list[ShardFile]:
    """Split ``input`` into ``shards`` Parquet files under ``out_dir``, by number.

    Every row goes to the shard of its normalized number (``shard_of``), in input order; all
    columns are kept. Existing shard files of an earlier try are replaced. An input without
    rows gives no shards.

    :param input: what the send operators take: a DataFrame, a list, a local path, URL or
        ``ObjectStoragePath`` of a Parquet or CSV file or of a directory of Parquet parts; or
        an iterable of DataFrame chunks (e.g. ``pandas.read_sql(..., chunksize=...)``).
    :param out_dir: a local directory, URL (``s3://...``) or ``ObjectStoragePath`` every
        worker can read; created when local.
    :param shards: how many shards (1 to ``MAX_SHARDS``).
    :param mobile_column: the column of numbers.
    :param chunk_rows: rows read at a time.
    :param csv_encoding: the text encoding of a CSV input.
    """
    import pandas as pd
    import pyarrow as pa

    _check_count(shards)
    chunks: Iterable[pd.DataFrame]
    if isinstance(input, pd.DataFrame) or not _is_chunk_iterable(input):
        chunks = row_source(input, mobile_column, chunk_rows, None, csv_encoding).chunks()
    else:
        chunks = input
    out = as_storage_path(out_dir)
    if isinstance(out, Path):
        out.mkdir(parents=True, exist_ok=True)
    writers = _ShardWriters(out, shards)
    complete = False
    try:
        for first_row, chunk in _numbered(chunks):
            if mobile_column not in chunk.columns:
                raise ValueError(
                    f"input has no column {mobile_column!r} (columns: {list(chunk.columns)}); "
                    "give mobile_column"
                )
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            if writers.schema is None:
                writers.schema = table.schema
            elif table.schema != writers.schema:
                try:
                    table = table.cast(writers.schema)
                except (pa.ArrowInvalid, ValueError, TypeError) as exc:
                    raise ValueError(
                        f"input rows from {first_row} on do not match the first rows' columns "
                        f"and types: {exc}"
                    ) from None
            index = shard_of(table.column(mobile_column), shards)
            order = index.argsort(kind="stable")  # rows stay in input order in each shard
            bounds = index[order].searchsorted(range(shards + 1))
            for shard in range(shards):
                start, stop = bounds[shard], bounds[shard + 1]
                if stop > start:
                    writers.write(shard, table.take(order[start:stop]))
        complete = True
    finally:
        written = writers.close(complete)
    return written


def _is_chunk_iterable(value: Any) -> bool:
    from collections.abc import Iterator

    return isinstance(value, Iterator) or type(value).__name__ == "generator"


def _numbered(chunks: Iterable[pd.DataFrame]) -> Iterable[tuple[int, pd.DataFrame]]:
    first = 0
    for chunk in chunks:
        yield first, chunk
        first += len(chunk)
