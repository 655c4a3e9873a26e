"""The protocol's input rules, checked before anything is sent.

Each ``check_*`` / ``normalize_*`` function returns the value to send or raises
``InvalidFieldError`` naming the field and the rule; callers that validate many rows attach the
row number (``problem.at_row``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from airflow_provider_hbsms.exceptions import InvalidFieldError
from airflow_provider_hbsms.protocol.endpoints import (
    FIELD_SEPARATOR,
    ITEM_SEPARATOR,
    MAX_BATCH,
    MAX_CALLER_ID_DIGITS,
    MAX_CONTENT_LENGTH,
    MAX_MSG_ID_LENGTH,
    WIRE_ENCODING,
)
from airflow_provider_hbsms.protocol.numbers import MAINLAND_MOBILE, canonical_mobile

if TYPE_CHECKING:
    from collections.abc import Sized

# Mainland mobile numbers: 11 ASCII digits, starting 13-19 (``\d`` would admit other scripts'
# digits, which no gateway reads as a number).
MOBILE = MAINLAND_MOBILE
DIGITS = re.compile(r"[0-9]*")
# Printable ASCII without spaces and '&' (which would collide with the personalized separators).
MSG_ID_CHARACTER = r"[!-%'-~]"
MSG_ID = re.compile(f"{MSG_ID_CHARACTER}+")
# Control characters no message text may hold: the C0 set (NUL, BS, ESC, ...) and DEL. Tab,
# line feed and carriage return are text layout and stay allowed. The one rule for the
# row-by-row and the column-wise checks.
CONTROL_CODES = (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F)
CONTROL_CHARACTER = "[" + "".join(f"\\x{code:02x}" for code in CONTROL_CODES) + "]"
CONTROL = re.compile(CONTROL_CHARACTER)
#: The same characters as GBK (like ASCII) writes them: GBK's two-byte characters use bytes
#: from 0x40 up and never 0x7F, so these bytes appear only for the characters themselves.
CONTROL_BYTES = bytes(CONTROL_CODES)


def normalize_mobile(value: object, field: str = "mobile") -> str:
    """Return the 11-digit form of a mainland mobile number.

    Accepts ``+86``, ``0086`` and ``86`` prefixes, spaces, dashes, dots and parentheses, and
    integers (as pandas reads a numeric column). Floats are refused unless they are whole numbers
    (``1.3800138e10`` is what a CSV reader makes of a number column).
    """
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool) or value is None:
        raise InvalidFieldError(field, "must be a mainland mobile number", value)
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        raise InvalidFieldError(field, "must be a mainland mobile number", value)
    # The one normalization every stored and compared number goes through (numbers.py).
    digits = canonical_mobile(text)
    if MOBILE.fullmatch(digits):
        return digits
    raise InvalidFieldError(
        field, "must be an 11-digit mainland mobile number (1[3-9]xxxxxxxxx)", value
    )


def gbk_unencodable(text: str) -> list[str]:
    """The distinct characters of ``text`` that GBK cannot encode, in order of appearance."""
    bad: list[str] = []
    for char in text:
        if char not in bad:
            try:
                char.encode(WIRE_ENCODING)
            except UnicodeEncodeError:
                bad.append(char)
    return bad


def check_content(value: object, field: str = "content", personalized: bool = False) -> str:
    """Return ``value`` if it can be sent as a message text.

    Rules: a string of 1 to 1000 characters, not only white space, no control characters
    (``CONTROL``), GBK-encodable; for personalized items also free of the ``&split&`` /
    ``&group&`` separators.
    """
    if not isinstance(value, str):
        raise InvalidFieldError(field, "must be text", value)
    if not value.strip():
        raise InvalidFieldError(field, "must not be empty", value)
    if len(value) > MAX_CONTENT_LENGTH:
        raise InvalidFieldError(
            field, f"must be at most {MAX_CONTENT_LENGTH} characters, has {len(value)}", value
        )
    control = CONTROL.search(value)
    if control is not None:
        raise InvalidFieldError(
            field,
            f"must not hold control characters: U+{ord(control.group()):04X} at position "
            f"{control.start()}",
            value,
        )
    try:
        value.encode(WIRE_ENCODING)
    except UnicodeEncodeError:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in gbk_unencodable(value))
        raise InvalidFieldError(
            field, f"has characters GBK cannot encode: {shown}", value
        ) from None
    if personalized and (FIELD_SEPARATOR in value or ITEM_SEPARATOR in value):
        raise InvalidFieldError(
            field, f"must not contain {FIELD_SEPARATOR!r} or {ITEM_SEPARATOR!r}", value
        )
    return value


def check_msg_id(value: object, field: str = "msg_id") -> str:
    """Return ``value`` if it can serve as a corp_msg_id: 1-50 printable ASCII, no space or '&'."""
    if not isinstance(value, str) or not value:
        raise InvalidFieldError(field, "must be a non-empty string", value)
    if len(value) > MAX_MSG_ID_LENGTH:
        raise InvalidFieldError(field, f"must be at most {MAX_MSG_ID_LENGTH} characters", value)
    if not MSG_ID.fullmatch(value):
        raise InvalidFieldError(field, "must be printable ASCII without spaces or '&'", value)
    return value


def check_ext(value: object, channel_number: str = "", field: str = "ext") -> str:
    """Return ``value`` if it is a valid ext: digits (may be empty), channel number + ext <= 20."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not DIGITS.fullmatch(value):
        raise InvalidFieldError(field, "must be digits only (or empty)", value)
    room = MAX_CALLER_ID_DIGITS - len(channel_number)
    if len(value) > room:
        raise InvalidFieldError(
            field,
            f"channel number ({len(channel_number)} digits) + ext must be at most "
            f"{MAX_CALLER_ID_DIGITS} digits, so ext at most {room}",
            value,
        )
    return value


def check_batch_size(items: Sized, field: str = "batch") -> None:
    """A request carries 1 to 200 numbers or items."""
    if not 0 < len(items) <= MAX_BATCH:
        raise InvalidFieldError(field, f"must hold 1 to {MAX_BATCH} entries, has {len(items)}")
