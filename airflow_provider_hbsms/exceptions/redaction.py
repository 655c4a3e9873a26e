"""Taking request forms and secret fields out of text before it reaches a message or a log.

A gateway or a proxy may echo the request it got, account, password, numbers and texts; every
exception message and every logged reply excerpt goes through ``redact`` first. Nothing here
imports from the rest of the package, so the exceptions and the sans-I/O protocol can use it.
"""

from __future__ import annotations

import re

# A field whose name says it holds a secret, as a gateway or proxy may echo it: in a form
# (``corp_pwd=...``, ``corp%5Fpwd%3D...``), JSON (``"corp_pwd": "..."``) or XML
# (``<corp_pwd>...``). The name is what is matched, never the value: a fragment of a
# percent-encoded password looks like anything else.
_NAME_CHAR = r"(?:[A-Za-z0-9_.\-]|%5[Ff])"
_SECRET_NAME = rf"{_NAME_CHAR}*(?:pwd|passw(?:or)?d|secret|token){_NAME_CHAR}*"
_SECRET_FIELD = re.compile(
    rf"(?P<name>{_SECRET_NAME})(?P<sep>[\"']?\s*(?:=|%3[Dd]|:|>)\s*)"
    r"(?P<value>\"[^\"]*\"?|'[^']*'?|[^&\s\"'<>,;)]*)",
    re.IGNORECASE,
)
_SECRET_ELEMENT = re.compile(rf"<(?P<name>{_SECRET_NAME})>[^<]*", re.IGNORECASE)
# A run of two or more ``name=value`` pairs joined by ``&`` (raw or percent-encoded): the echo
# of a request form, which carries the account, numbers and texts. Taken out whole: even its
# field names may be pieces of a password that held ``&`` or ``=``.
_FORM_RUN = re.compile(
    r"[A-Za-z_%][A-Za-z0-9_%.\-]*(?:=|%3[Dd])[^&\s<>\"']*"
    r"(?:(?:&|%26)(?:amp;)?[^&=\s<>\"']*(?:=|%3[Dd])[^&\s<>\"']*)+",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with request forms and secret fields taken out, for messages and logs: an
    echoed form becomes ``<request form removed>``; a field named like a password keeps its
    name and loses its value (``corp_pwd=***``).

    :param text: a reply excerpt, an exception message, a reason phrase.
    """
    if not text:
        return text
    text = _FORM_RUN.sub("<request form removed>", text)
    text = _SECRET_ELEMENT.sub(lambda m: f"<{m.group('name')}>***", text)
    return _SECRET_FIELD.sub(
        lambda m: f"{m.group('name')}{m.group('sep')}***" if m.group("value") else m.group(0),
        text,
    )


def excerpt(text: str, limit: int = 80) -> str:
    """A redacted excerpt of at most ``limit`` characters (redacted first, then cut, so a cut
    never leaves half a field name in front of its value).

    :param text: the text.
    :param limit: the longest excerpt.
    """
    shown = redact(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
