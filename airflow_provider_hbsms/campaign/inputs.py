"""Where a campaign's rows come from: a DataFrame, a list of numbers, or Parquet/CSV files.

Rows are read in chunks, so a file of ten million rows never sits in memory whole. Every
source can be read more than once (validation first, then sending).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_hbsms.exceptions import InputFileError

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_CHUNK_ROWS = 50_000


def _unreadable(path: Any, exc: Exception, compression: str | None) -> Exception:
    """The ``InputFileError`` for what a reader raised on ``path`` (pandas, pyarrow, gzip,
    bz2, lzma and zlib each have their own exceptions), or ``exc`` itself for anything else."""
    import gzip
    import lzma
    import zlib

    import pandas as pd
    import pyarrow as pa

    packed = f"{compression}-compressed " if compression else ""
    if isinstance(exc, gzip.BadGzipFile | lzma.LZMAError | zlib.error | EOFError):
        return InputFileError(path, f"not readable {packed}data ({exc})")
    if isinstance(exc, pd.errors.ParserError):
        return InputFileError(path, f"not well-formed CSV ({exc})".replace("\n", " "))
    if isinstance(exc, pa.ArrowException):
        return InputFileError(path, f"not a readable Parquet file ({exc})")
    if isinstance(exc, FileNotFoundError):
        return InputFileError(path, "no such file")
    if isinstance(exc, IsADirectoryError | PermissionError):
        return InputFileError(path, f"cannot be opened ({exc.strerror})")
    if isinstance(exc, OSError) and compression:  # bz2: "Invalid data stream"
        return InputFileError(path, f"not readable {packed}data ({exc})")
    return exc


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
        return self._chunks()


def _frame_chunks(frame: pd.DataFrame, size: int) -> Any:
    def chunks() -> Iterator[pd.DataFrame]:
        for start in range(0, len(frame), size):
            yield frame.iloc[start : start + size]

    return chunks


def _is_object_storage_path(value: Any) -> bool:
    # By name: importing the class would load Airflow's object storage for every input.
    return type(value).__name__ == "ObjectStoragePath"


def _is_path(value: Any) -> bool:
    return isinstance(value, str | os.PathLike) or _is_object_storage_path(value)


def as_storage_path(value: Any) -> Any:
    """A local ``Path``, or an ``ObjectStoragePath`` for one given as such or as a URL
    (``s3://bucket/key``, ``file:///tmp/x``: anything with a scheme), e.g. from a template."""
    if _is_object_storage_path(value):
        return value
    text = os.fspath(value)
    if "://" in text:
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(text)
    return Path(text)


def _directory_parts(path: Any) -> list[Any]:
    """A directory's data files (as Spark and ``pyarrow.dataset`` write them, in
    subdirectories too) sorted by path: the same row order on every read, which the batch keys
    need. Names starting with ``_`` or ``.`` (``_SUCCESS``, ``.crc``) are not data."""
    root = str(path).rstrip("/")
    parts = [
        part
        for part in path.rglob("*")
        if part.is_file()
        and not any(n.startswith(("_", ".")) for n in str(part)[len(root) :].split("/") if n)
    ]
    if not parts:
        raise InputFileError(path, "a directory with no data files in it")
    return sorted(parts, key=str)


#: CSV compressions, by the file name's last suffix (read from handles, which pandas cannot
#: infer them from).
_COMPRESSIONS: dict[str, Literal["gzip", "bz2", "xz"]] = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}
_CSV_SUFFIXES = (".csv", ".txt")


def _file_chunks(path: Any, size: int, columns: Sequence[str] | None, encoding: str) -> Any:
    name = str(path).lower()
    compression = next((c for s, c in _COMPRESSIONS.items() if name.endswith(s)), None)
    if compression:
        name = name.rsplit(".", 1)[0]

    directory = path.is_dir()
    # Listed once: validation and sending read the same files.
    parts = _directory_parts(path) if directory else [path]

    def parquet() -> Iterator[pd.DataFrame]:
        import pyarrow.parquet as pq

        for part in parts:
            try:
                with part.open("rb") as handle:
                    parquet_file = pq.ParquetFile(handle)
                    names = parquet_file.schema_arrow.names
                    wanted = [c for c in columns or [] if c in names] or None
                    for batch in parquet_file.iter_batches(batch_size=size, columns=wanted):
                        yield batch.to_pandas()
            except Exception as exc:
                raise _unreadable(part, exc, None) from None

    def csv() -> Iterator[pd.DataFrame]:
        import pandas as pd

        try:
            with path.open("rb") as handle:
                # Numbers and ids as text: a CSV reader would turn 13800138000 into a float.
                yield from pd.read_csv(
                    handle,
                    chunksize=size,
                    dtype=str,
                    keep_default_na=False,
                    encoding=encoding,
                    compression=compression,
                )
        except UnicodeDecodeError as exc:
            raise InputFileError(
                path,
                f"not {encoding} text ({exc.reason}); give its encoding as csv_encoding, e.g. "
                "'gb18030' for a file saved by Excel in Chinese",
            ) from None
        except pd.errors.EmptyDataError:
            return  # no header, no rows: an empty input, which the caller judges (on_empty)
        except Exception as exc:
            raise _unreadable(path, exc, compression) from None

    if (name.endswith((".parquet", ".pq")) and not compression) or directory:
        return parquet
    if name.endswith(_CSV_SUFFIXES):
        return csv
    raise InputFileError(path, "expected .parquet or .csv (.csv.gz, .csv.bz2 and .csv.xz too)")


def row_source(
    value: Any,
    mobile_column: str = "mobile",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    columns: Sequence[str] | None = None,
    csv_encoding: str = "utf-8",
) -> RowSource:
    """A source for any supported input.

    :param value: a DataFrame, a list of numbers, a list of dicts, or a local path, URL or
        ``ObjectStoragePath`` of a ``.parquet`` / ``.csv`` file or of a directory of Parquet
        parts.
    :param mobile_column: the column a plain list of numbers becomes.
    :param chunk_rows: rows per chunk read from files.
    :param columns: the columns needed (Parquet reads only these).
    :param csv_encoding: the text encoding of CSV files.
    """
    import pandas as pd  # here, not at import: DAG files import the operators

    if isinstance(value, pd.DataFrame):
        return RowSource(
            f"DataFrame of {len(value)} rows", _frame_chunks(value, chunk_rows), in_memory=True
        )
    if _is_path(value):
        path = as_storage_path(value)
        return RowSource(f"file {path}", _file_chunks(path, chunk_rows, columns, csv_encoding))
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
