"""Checking whole columns that pandas holds in Arrow, with Arrow compute kernels: the fast path
for personalized chunks whose rows are all valid. Same verdicts as ``columnwise``; the columns
stay Arrow arrays (no Python string per row)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from airflow_provider_hbsms.campaign.columnwise import MOBILE_RE2, sendable
from airflow_provider_hbsms.campaign.messages import Messages
from airflow_provider_hbsms.protocol.endpoints import MAX_CONTENT_LENGTH
from airflow_provider_hbsms.protocol.segments import MULTI_SEGMENT_CHARS, SINGLE_SEGMENT_CHARS

if TYPE_CHECKING:
    import pandas as pd


def arrow_strings(column: pd.Series) -> pa.Array | None:
    """The column as one Arrow string array when pandas holds it in Arrow without missing
    values (pandas' default ``str`` storage with pyarrow, or an ``ArrowDtype`` string)."""
    dtype = column.dtype
    arrow_type = getattr(dtype, "pyarrow_dtype", None)
    if getattr(dtype, "storage", None) != "pyarrow" and arrow_type is None:
        return None
    try:
        array = column.array.__arrow_array__()
    except (AttributeError, TypeError, pa.ArrowException):
        return None
    if isinstance(array, pa.ChunkedArray):
        # One chunk (the usual slice of a frame) is used as it is; combining copies.
        array = array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    return array if array.null_count == 0 else None


@functools.cache
def _only_space() -> str:
    """RE2 for a text made only of Python's whitespace (``str.isspace``): an empty message."""
    return "^[" + "".join(rf"\x{{{c:X}}}" for c in range(0x10000) if chr(c).isspace()) + "]+$"


def _any(mask: pa.Array) -> bool:
    return bool(pc.any(mask).as_py())


def _utf8(texts: pa.Array) -> bytes:
    """The array's strings back to back, as the UTF-8 bytes Arrow keeps them in (one copy of
    just this slice of the buffer)."""
    _, offsets_buffer, data = texts.buffers()
    width = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=width)
    start, end = int(offsets[texts.offset]), int(offsets[texts.offset + len(texts)])
    return data.slice(start, end - start).to_pybytes() if data is not None else b""


def arrow_contents_valid(texts: pa.Array) -> bool:
    """``contents_valid`` over an Arrow string array."""
    if len(texts) == 0:
        return True
    bounds = pc.min_max(pc.utf8_length(texts))
    if bounds["min"].as_py() == 0 or bounds["max"].as_py() > MAX_CONTENT_LENGTH:
        return False
    if _any(pc.match_substring_regex(texts, _only_space())):
        return False
    # Over the texts back to back: a separator found across two texts only sends this chunk
    # to the row-by-row check, which gives the exact verdict.
    return sendable(_utf8(texts).decode("utf-8"))


def arrow_segments(texts: pa.Array, signature: str) -> pa.Array:
    """``count_segments`` of each text, in Arrow kernels."""
    lengths = pc.cast(pc.utf8_length(texts), pa.int64())
    longest = pc.max(lengths).as_py() or 0
    if longest + len(signature) <= SINGLE_SEGMENT_CHARS:  # the usual short message: 1 each
        return pa.array(np.ones(len(texts), dtype=np.int64))
    if signature:
        extra = pc.if_else(pc.match_substring(texts, signature), 0, len(signature))
        lengths = pc.add(lengths, pc.cast(extra, pa.int64()))
    long = pc.cast(
        pc.ceil(pc.divide(pc.cast(lengths, pa.float64()), MULTI_SEGMENT_CHARS)), pa.int64()
    )
    return pc.if_else(pc.less_equal(lengths, SINGLE_SEGMENT_CHARS), 1, long)


def valid_messages(
    mobile_column: pd.Series, text_column: pd.Series, ext: str, signature: str, first_row: int
) -> Messages | None:
    """The messages of a chunk whose number and text columns pandas holds in Arrow, if every
    row is valid; the columns stay Arrow arrays."""
    mobiles = arrow_strings(mobile_column)
    texts = arrow_strings(text_column)
    if mobiles is None or texts is None:
        return None
    if len(mobiles) and not pc.all(pc.match_substring_regex(mobiles, MOBILE_RE2)).as_py():
        return None
    if not arrow_contents_valid(texts):
        return None
    n = len(mobiles)
    return Messages(
        range(first_row, first_row + n),
        mobiles,
        texts,
        [ext] * n,
        [None] * n,
        arrow_segments(texts, signature),
    )
