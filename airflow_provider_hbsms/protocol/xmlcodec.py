"""Report and reply XML: parsed safely from GBK (GB18030) or declared bytes, and built (for the
simulator and tests).

Parsing is tolerant of the variants seen in the vendor document and in the wild: a missing or
differently-declared XML declaration, a lost ``<reports>`` opening tag, a bare ``<report>``
without a root, ``000`` for delivered, missing optional fields. It refuses DTDs, entity
declarations and external entities (``UnsafeXmlError``) and malformed XML (``MalformedXmlError``).
``read_reports`` / ``read_replies`` read item by item: an unreadable item is returned with its
reason and XML fragment, the others are read.
"""

from __future__ import annotations

import codecs
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar
from xml.etree.ElementTree import ParseError
from xml.sax.saxutils import escape

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException

from airflow_provider_hbsms.exceptions import MalformedXmlError, UnsafeXmlError
from airflow_provider_hbsms.protocol.endpoints import WIRE_ENCODING
from airflow_provider_hbsms.protocol.models import (
    Reply,
    Report,
    format_gateway_time,
    parse_gateway_time,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime
    from xml.etree.ElementTree import Element

log = logging.getLogger(__name__)


_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_DECLARED_ENCODING = re.compile(
    rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9_.:-]+)[\"']", re.IGNORECASE
)
_UNSAFE = re.compile(r"<!(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)
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


def _unwrap(text: str, root: str) -> str:
    """The body between the root element's tags. Only a leading opening tag and a trailing
    closing tag are removed, so a ``</reports>`` inside CDATA text stays where it is. A missing
    opening tag (as in the vendor's sample) or bare items without any root are accepted."""
    opening = re.match(rf"<{root}(\s[^>]*)?>", text)
    if opening is not None:
        text = text[opening.end() :]
    closing = re.search(rf"</{root}\s*>\s*$", text)
    if closing is not None:
        text = text[: closing.start()]
    return text


def _tree(body: bytes | str, root: str) -> Element:
    text = decode_body(body)
    if _UNSAFE.search(text):
        raise UnsafeXmlError("DTDs and entity declarations are refused")
    text = _DECLARATION.sub("", text, count=1).strip()
    if not text.startswith("<"):
        raise MalformedXmlError(f"not an XML body: {text[:40]!r}")
    # Wrap the items in a root of our own: this accepts a complete document, one whose opening
    # root tag was lost, and bare items.
    document = f"<{root}>{_unwrap(text, root)}</{root}>"
    try:
        if "<!" in document:
            # Comments or CDATA (DTDs were refused above): defusedxml's hardened parser.
            return DefusedET.fromstring(document, forbid_dtd=True)
        # No markup declaration at all, so no entity can be defined or fetched: the C parser
        # is safe here and 3x faster than defusedxml's Python-level callbacks.
        return ET.fromstring(document)
    except DefusedXmlException as exc:
        raise UnsafeXmlError(str(exc)) from None
    except ParseError as exc:
        raise MalformedXmlError(f"malformed XML: {exc}") from None


def _fields(node: Element) -> dict[str, str]:
    """A node's child elements as {tag: text}, in one pass (the first of a repeated tag wins)."""
    fields: dict[str, str] = {}
    for child in node:
        fields.setdefault(child.tag, child.text or "")
    return fields


class ItemRefused(ValueError):
    """One item of a body that cannot be read; the rest of the body can.

    :param reason: which field breaks which rule.
    """


def _int(fields: dict[str, str], tag: str) -> int:
    value = fields.get(tag, "").strip()
    try:
        return int(value) if value else 0
    except ValueError:
        raise ItemRefused(f"<{tag}> is not a number: {value[:40]!r}") from None


def _time(fields: dict[str, str], tag: str) -> datetime | None:
    text = fields.get(tag, "").strip()
    if not text:
        return None  # an optional field left out
    parsed = parse_gateway_time(text)
    if parsed is None:
        raise ItemRefused(f"<{tag}> is not a readable time: {text[:40]!r}")
    return parsed


T = TypeVar("T")


@dataclass
class ReadBody(Generic[T]):
    """What a body holds: the items that could be read, and the fragments that could not.

    :param items: the items read, each with its element (for a fragment, should it be refused
        later).
    :param refused: ``(fragment, reason)`` of each element that is not a readable item.
    """

    items: list[tuple[T, Element]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def fragment_of(node: Element) -> str:
    """The XML text of one item, as kept in quarantine (without the text that follows it, so
    that an item is the same fragment however its body was laid out)."""
    node.tail = None
    return ET.tostring(node, encoding="unicode")


def _read(
    body: bytes | str, root: str, item: str, build: Callable[[dict[str, str]], T]
) -> ReadBody[T]:
    tree = _tree(body, root)
    read: ReadBody[T] = ReadBody()
    if len(tree) and all(child.tag != item for child in tree):
        # Nothing of the expected shape at all: the body, not an item, is unreadable.
        tags = sorted({str(child.tag) for child in tree})[:3]
        raise MalformedXmlError(f"unexpected element(s) {tags} in <{root}>")
    for node in tree:
        if node.tag != item:
            read.refused.append((fragment_of(node), f"unexpected element <{node.tag}>"))
            continue
        try:
            read.items.append((build(_fields(node)), node))
        except ItemRefused as exc:
            read.refused.append((fragment_of(node), str(exc)))
    return read


def _report(f: dict[str, str]) -> Report:
    report = Report(
        mobile=f.get("mobile", "").strip(),
        msg_id=f.get("msg_id", "").strip(),
        sub_seq=_int(f, "sub_seq"),
        err=f.get("err", "").strip(),
        fail_desc=f.get("fail_desc", "").strip(),
        report_time=_time(f, "report_time"),
        corp_id=f.get("corp_id", "").strip(),
    )
    if not report.mobile or not report.msg_id:
        raise ItemRefused("a <report> lacks <mobile> or <msg_id>")
    return report


def _reply(f: dict[str, str]) -> Reply:
    reply = Reply(
        mobile=f.get("mobile", "").strip(),
        # Content is kept as sent (no strip): a reply may be a space-padded keyword.
        content=f.get("content", ""),
        ext=f.get("ext", "").strip(),
        time=_time(f, "time"),
        corp_id=f.get("corp_id", "").strip(),
    )
    if not reply.mobile:
        raise ItemRefused("a <deliver> lacks <mobile>")
    return reply


def read_reports(body: bytes | str) -> ReadBody[Report]:
    """Every report of a ``<reports>`` body that can be read, and every element that cannot
    (with the reason), so that one bad item never costs the others.

    :raises UnsafeXmlError: DTD or entities present.
    :raises MalformedXmlError: the body as a whole is not XML of this shape.
    """
    return _read(body, "reports", "report", _report)


def read_replies(body: bytes | str) -> ReadBody[Reply]:
    """``read_reports`` for a ``<delivers>`` body of replies."""
    return _read(body, "delivers", "deliver", _reply)


def _strict(read: ReadBody[T]) -> list[T]:
    if read.refused:
        raise MalformedXmlError(read.refused[0][1])
    return [item for item, _ in read.items]


def parse_reports(body: bytes | str) -> list[Report]:
    """The reports of a pushed or pulled ``<reports>`` body, all or nothing.

    :raises UnsafeXmlError: DTD or entities present.
    :raises MalformedXmlError: not XML, wrong shape, or any report unreadable.
    """
    return _strict(read_reports(body))


def parse_replies(body: bytes | str) -> list[Reply]:
    """The replies of a pushed or pulled ``<delivers>`` body, all or nothing.

    :raises UnsafeXmlError: DTD or entities present.
    :raises MalformedXmlError: not XML, wrong shape, or any reply unreadable.
    """
    return _strict(read_replies(body))


_PROLOG = '<?xml version="1.0" encoding="GBK" ?>\n'


def _node(tag: str, fields: Iterable[tuple[str, object]]) -> str:
    inner = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in fields)
    return f"<{tag}>{inner}</{tag}>"


def _time_text(value: datetime | None) -> str:
    try:
        return format_gateway_time(value)
    except (OverflowError, ValueError):  # a time China time cannot express: as it came
        return value.isoformat() if value is not None else ""


def report_fragment(report: Report) -> str:
    """One ``<report>`` element, as kept in quarantine for a report that came as an object."""
    return _report_node(report, _time_text(report.report_time))


def reply_fragment(reply: Reply) -> str:
    """One ``<deliver>`` element, as kept in quarantine for a reply that came as an object."""
    return _reply_node(reply, _time_text(reply.time))


def _report_node(r: Report, when: str) -> str:
    return _node(
        "report",
        (
            ("corp_id", r.corp_id),
            ("mobile", r.mobile),
            ("sub_seq", r.sub_seq),
            ("msg_id", r.msg_id),
            ("err", r.err),
            ("fail_desc", r.fail_desc),
            ("report_time", when),
        ),
    )


def _reply_node(r: Reply, when: str) -> str:
    return _node(
        "deliver",
        (
            ("corp_id", r.corp_id),
            ("mobile", r.mobile),
            ("ext", r.ext),
            ("time", when),
            ("content", r.content),
        ),
    )


def build_reports_xml(reports: Iterable[Report]) -> bytes:
    """A ``<reports>`` body in the gateway's form, GBK-encoded."""
    nodes = "".join(_report_node(r, format_gateway_time(r.report_time)) for r in reports)
    return f"{_PROLOG}<reports>{nodes}</reports>".encode(WIRE_ENCODING)


def build_replies_xml(replies: Iterable[Reply]) -> bytes:
    """A ``<delivers>`` body in the gateway's form, GBK-encoded."""
    nodes = "".join(_reply_node(r, format_gateway_time(r.time)) for r in replies)
    return f"{_PROLOG}<delivers>{nodes}</delivers>".encode(WIRE_ENCODING)
