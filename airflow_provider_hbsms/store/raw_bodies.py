"""How a body kept as received is written (``hbsms_inbound.body``): compressed by zlib when that
makes it smaller, the original bytes recoverable exactly.

A pushed page of 100 reports is about 17 KB of XML that compresses some twentyfold: kept as is,
each body would cost the database more than the reports read from it (SQLite writes it to
overflow pages and again at each checkpoint, PostgreSQL compresses it itself, slower), and
the store would grow by about the size of its reports again.
"""

from __future__ import annotations

import zlib

#: ``hbsms_inbound.body_encoding`` of a compressed body (NULL: the bytes as received).
ZLIB = "zlib"
#: Bodies shorter than this are kept as they are (compressing would save next to nothing).
_SMALLEST = 256
#: Fast compression: a body is written on the receiver's hot path.
_LEVEL = 1


def pack_body(body: bytes) -> tuple[bytes, str | None]:
    """The bytes to write for ``body``, and their encoding (None: ``body`` itself)."""
    if len(body) >= _SMALLEST:
        packed = zlib.compress(body, _LEVEL)
        if len(packed) < len(body):
            return packed, ZLIB
    return body, None


def unpack_body(stored: bytes, encoding: str | None) -> bytes:
    """The body as received, from what ``pack_body`` wrote (or a row from before bodies were
    compressed: encoding None).

    :raises ValueError: an encoding this version does not know.
    """
    if encoding is None:
        return bytes(stored)
    if encoding == ZLIB:
        return zlib.decompress(stored)
    raise ValueError(f"unknown encoding {encoding!r} of a kept body")
