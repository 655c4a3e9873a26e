"""A report or reply body's bytes as text.

The gateway writes GBK; bodies in the wild also come as UTF-8, with or without a byte order
mark, declaring an encoding or not, sometimes declaring one they are not written in.
"""

from __future__ import annotations

import codecs
import logging
import re

from airflow_provider_hbsms.exceptions import MalformedXmlError

log = logging.getLogger(__name__)


_DECLARED_ENCODING = re.compile(
    rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9_.:-]+)[\"']", re.IGNORECASE
)
#: GBK and GB2312 bodies are read as GB18030, their superset (it also holds emoji and rare
#: characters a phone may send, which strict GBK refuses).
_GB_FAMILY = frozenset({"gbk", "gb2312", "gb18030", "cp936", "ms936", "euc-cn", "euccn"})
_GB = "gb18030"


def declared_encoding(body: bytes) -> str | None:
    """The encoding named by the body's XML declaration, as Python names it, if it names one
    Python knows (GBK and GB2312 are read as GB18030)."""
    match = _DECLARED_ENCODING.match(body)
    if match is None:
        return None
    name = match.group(1).decode("ascii").lower()
    if name in _GB_FAMILY:
        return _GB
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_body(body: bytes | str) -> str:
    """A pushed or pulled body as text, never as mojibake.

    A UTF-8 byte order mark wins; then the declared encoding when the bytes decode under it;
    else GB18030 (the wire encoding's superset), then UTF-8, for bodies that declare nothing or
    declare what they are not. A body that decodes under none of these is refused
    (``MalformedXmlError``) rather than read with replacement characters.
    """
    if isinstance(body, str):
        return body
    if body.startswith(b"\xef\xbb\xbf"):
        try:
            return body[3:].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedXmlError(f"byte order mark of UTF-8, but not UTF-8: {exc}") from None
    declared = declared_encoding(body)
    if declared is not None:
        try:
            return body.decode(declared)
        except UnicodeDecodeError:
            pass  # declared what it is not: try what the gateway really writes
    candidates = (_GB, "utf-8") if declared is not None or _plausibly_gb(body) else ("utf-8", _GB)
    for encoding in candidates:
        if encoding == declared:
            continue
        try:
            text = body.decode(encoding)
        except UnicodeDecodeError:
            continue
        if declared is not None:
            log.warning("body declared %s but is %s: read as %s", declared, encoding, encoding)
        return text
    tried = f"{declared}, GB18030 or UTF-8" if declared else "GB18030 or UTF-8"
    raise MalformedXmlError(f"body decodes neither as {tried}")


def _plausibly_gb(body: bytes) -> bool:
    """Without a declaration, bytes that are valid UTF-8 are read as UTF-8: multi-byte GBK
    text is almost never valid UTF-8, while UTF-8 text often decodes (wrongly) as GBK."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
