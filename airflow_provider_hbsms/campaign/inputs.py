"""Where a campaign's rows come from: a DataFrame, a list of numbers, or a Parquet/CSV file.

Rows are read in chunks, so a file of ten million rows never sits in memory whole. Every
source can be read more than once (validation first, then sending).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_CHUNK_ROWS = 50_000


@dataclass
class RowSource:
    """A re-readable source of rows.

    :param describe: what it is, for logs and errors.
    :param chunks: a function yielding DataFrame chunks in row order.
    :param in_memory: the rows are held in memory already (a DataFrame or a list), so keeping
        the validated messages between the two passes costs no more than the input itself.
    """

    describe: str
    _chunks: Any
    in_memory: bool = False

    def chunks(self) -> Iterator[pd.DataFrame]:
        """The rows, chunk by chunk; positions run on across chunks (row 0 is the first)."""
        return self._chunks()  # type: ignore[no-any-return]


def _frame_chunks(frame: pd.DataFrame, size: int) -> Any:
    def chunks() -> Iterator[pd.DataFrame]:
        for start in range(0, len(frame), size):
            yield frame.iloc[start : start + size]

    return chunks


def _path_of(value: Any) -> str | None:
    if isinstance(value, str | os.PathLike):
        return os.fspath(value)
    if type(value).__name__ == "ObjectStoragePath":
        return str(value)
    return None


def _file_chunks(path: Any, size: int, columns: Sequence[str] | None) -> Any:
    name = str(path).lower()

    def parquet() -> Iterator[pd.DataFrame]:
        import pyarrow.parquet as pq

        with _open(path) as handle:
            parquet_file = pq.ParquetFile(handle)
            wanted = [c for c in columns or [] if c in parquet_file.schema_arrow.names] or None
            for batch in parquet_file.iter_batches(batch_size=size, columns=wanted):
                yield batch.to_pandas()

    def csv() -> Iterator[pd.DataFrame]:
        import pandas as pd

        # Numbers and ids as text: a CSV reader would turn 13800138000 into a float.
        with _open(path) as handle:
            yield from pd.read_csv(handle, chunksize=size, dtype=str, keep_default_na=False)

    if name.endswith((".parquet", ".pq")):
        return parquet
    if name.endswith((".csv", ".csv.gz", ".txt")):
        return csv
    raise ValueError(f"input file {path}: expected .parquet or .csv")


def _open(path: Any) -> Any:
    if hasattr(path, "open") and not isinstance(path, str):
        return path.open("rb")
    return Path(path).open("rb")


def row_source(
    value: Any,
    mobile_column: str = "mobile",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    columns: Sequence[str] | None = None,
) -> RowSource:
    """A source for any supported input.

    :param value: a DataFrame, a list of numbers, a list of dicts, a local path or an
        ``ObjectStoragePath`` to a ``.parquet`` / ``.csv`` file.
    :param mobile_column: the column a plain list of numbers becomes.
    :param chunk_rows: rows per chunk read from files.
    :param columns: the columns needed (Parquet reads only these).
    """
    import pandas as pd  # here, not at import: DAG files import the operators

    if isinstance(value, pd.DataFrame):
        return RowSource(
            f"DataFrame of {len(value)} rows", _frame_chunks(value, chunk_rows), in_memory=True
        )
    path = _path_of(value)
    if path is not None:
        target = value if not isinstance(value, str | os.PathLike) else Path(path)
        return RowSource(f"file {path}", _file_chunks(target, chunk_rows, columns))
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        items = list(value)
        if items and all(isinstance(i, dict) for i in items):
            frame = pd.DataFrame(items)
        else:
            frame = pd.DataFrame({mobile_column: items})
        return RowSource(
            f"list of {len(items)} rows", _frame_chunks(frame, chunk_rows), in_memory=True
        )
    raise TypeError(
        f"unsupported input {type(value).__name__}: give a DataFrame, a list, or a path to a "
        ".parquet/.csv file"
    )
