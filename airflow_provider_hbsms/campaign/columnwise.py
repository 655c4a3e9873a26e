"""Checking whole columns at once: the fast path for chunks whose rows are all valid.

Each rule runs once over a column (joined into one string, or as an Arrow compute kernel)
instead of once per row. A chunk passes only if every rule holds for every row, with exactly
the verdicts of the row-by-row checks in ``protocol.validation``; anything else returns None
and the caller checks row by row, which names each bad row's field and rule.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from airflow_provider_hbsms.campaign.messages import Messages
from airflow_provider_hbsms.protocol.endpoints import (
    FIELD_SEPARATOR,
    ITEM_SEPARATOR,
    MAX_CALLER_ID_DIGITS,
    MAX_CONTENT_LENGTH,
    MAX_MSG_ID_LENGTH,
    WIRE_ENCODING,
)
from airflow_provider_hbsms.protocol.segments import (
    MULTI_SEGMENT_CHARS,
    SINGLE_SEGMENT_CHARS,
    count_segments,
)
from airflow_provider_hbsms.protocol.validation import (
    CONTROL_BYTES,
    DIGITS,
    MOBILE,
    MSG_ID_CHARACTER,
)

if TYPE_CHECKING:
    import pandas as pd

    from airflow_provider_hbsms.campaign.rows import MessageSpec


def _column_of(value: str) -> re.Pattern[str]:
    """A pattern matching newline-joined values that each match ``value``."""
    return re.compile(f"(?:{value}\n)*{value}")


# Whole columns joined by newlines (which no valid value contains), checked in one match; the
# values' rules are those of protocol.validation.
_MOBILES = _column_of(MOBILE.pattern)
_EXTS = _column_of(DIGITS.pattern)
_MSG_IDS = _column_of(f"{MSG_ID_CHARACTER}{{1,{MAX_MSG_ID_LENGTH}}}")
_MOBILE_RE2 = f"^{MOBILE.pattern}$"


def as_text(values: list[Any], numbers: bool = True) -> list[str] | None:
    """The column as strings when it is all strings (or, with ``numbers``, all integers)."""
    kinds = set(map(type, values))
    if kinds <= {str}:
        return values
    if numbers and kinds == {int}:
        return list(map(str, values))
    return None


def contents_valid(texts: list[str]) -> bool:
    """Every text obeys ``check_content(..., personalized=True)``."""
    if not texts:
        return True
    lengths = list(map(len, texts))
    if min(lengths) == 0 or max(lengths) > MAX_CONTENT_LENGTH:
        return False
    if any(map(str.isspace, texts)):
        return False
    # No separator or control character can span two texts across the line feed.
    return _sendable("\n".join(texts))


def _sendable(texts: str) -> bool:
    """Texts joined into one string hold no separator, no control character and only
    GBK-encodable characters."""
    if FIELD_SEPARATOR in texts or ITEM_SEPARATOR in texts:
        return False
    try:
        encoded = texts.encode(WIRE_ENCODING)
    except UnicodeEncodeError:
        return False
    # Control characters, found in the encoded bytes: several times faster than a regex over
    # the text, and the same verdict (see CONTROL_BYTES).
    return len(encoded.translate(None, CONTROL_BYTES)) == len(encoded)


def valid_lists(
    spec: MessageSpec, data: dict[str, list[Any]], first_row: int, render: Any
) -> Messages | None:
    """The messages of a chunk given as Python lists, if every row is valid as it stands.

    :param render: renders row ``i`` of ``data`` through the spec's template (may raise).
    """
    mobiles = as_text(data[spec.mobile_column])
    if mobiles is None or not _MOBILES.fullmatch("\n".join(mobiles)):
        return None
    n = len(mobiles)
    if spec.kind == "bulk":
        contents: list[str] = [spec.content or ""] * n
        segments = [count_segments(spec.content or "", spec.signature)] * n
    else:
        if spec.content_column:
            texts = as_text(data[spec.content_column], numbers=False)
        else:
            try:
                texts = [render(data, i) for i in range(n)]
            except Exception:  # any row that cannot be rendered is named by the row path
                return None
        if texts is None or not contents_valid(texts):
            return None
        contents = texts
        segments = [count_segments(c, spec.signature) for c in contents]
    exts = _exts(spec, data, n)
    ids = _ids(spec, data, n)
    if exts is None or ids is None:
        return None
    return Messages(range(first_row, first_row + n), mobiles, contents, exts, ids, segments)


def _exts(spec: MessageSpec, data: dict[str, list[Any]], n: int) -> list[str] | None:
    if not spec.ext_column:
        return [spec.ext] * n
    given = as_text(data[spec.ext_column])
    room = MAX_CALLER_ID_DIGITS - len(spec.channel_number)
    if given is None or not _EXTS.fullmatch("\n".join(given)):
        return None
    if max(map(len, given), default=0) > room:
        return None
    return [e or spec.ext for e in given]


def _ids(spec: MessageSpec, data: dict[str, list[Any]], n: int) -> list[str | None] | None:
    if not spec.msg_id_column:
        return [None] * n
    given = as_text(data[spec.msg_id_column])
    if given is None or not _MSG_IDS.fullmatch("\n".join(given)):
        return None
    return list(given)


# ---------------------------------------------------------------------- Arrow columns


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
    return _sendable(_utf8(texts).decode("utf-8"))


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


def valid_arrow(spec: MessageSpec, chunk: pd.DataFrame, first_row: int) -> Messages | None:
    """The messages of a personalized chunk whose number and text columns pandas holds in
    Arrow, if every row is valid; the columns stay Arrow arrays."""
    if spec.kind != "personalized" or not spec.content_column:
        return None
    if spec.ext_column or spec.msg_id_column:
        return None
    mobiles = arrow_strings(chunk[spec.mobile_column])
    texts = arrow_strings(chunk[spec.content_column])
    if mobiles is None or texts is None:
        return None
    if len(mobiles) and not pc.all(pc.match_substring_regex(mobiles, _MOBILE_RE2)).as_py():
        return None
    if not arrow_contents_valid(texts):
        return None
    n = len(mobiles)
    return Messages(
        range(first_row, first_row + n),
        mobiles,
        texts,
        [spec.ext] * n,
        [None] * n,
        arrow_segments(texts, spec.signature),
    )
