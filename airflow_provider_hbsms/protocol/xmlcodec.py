"""Report and reply XML: parsed safely from GBK bytes, and built (for the simulator and tests).

Parsing is tolerant of the variants seen in the vendor document and in the wild: a missing or
differently-declared XML declaration, a lost ``<reports>`` opening tag, a bare ``<report>``
without a root, ``000`` for delivered, missing optional fields. It refuses DTDs, entity
declarations and external entities (``UnsafeXmlError``) and malformed XML (``MalformedXmlError``).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING
from xml.etree.ElementTree import ParseError
from xml.sax.saxutils import escape

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException

from airflow_provider_hbsms.protocol.endpoints import WIRE_ENCODING
from airflow_provider_hbsms.protocol.errors import HbSmsError
from airflow_provider_hbsms.protocol.models import (
    Reply,
    Report,
    format_gateway_time,
    parse_gateway_time,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from xml.etree.ElementTree import Element


class XmlBodyError(HbSmsError, ValueError):
    """A report or reply body that cannot be accepted."""


class UnsafeXmlError(XmlBodyError):
    """The body declares a DTD or entities: refused, never expanded."""


class MalformedXmlError(XmlBodyError):
    """The body is not well-formed XML of the expected shape."""


_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_UNSAFE = re.compile(r"<!(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)


def decode_body(body: bytes | str) -> str:
    """GBK bytes (the wire encoding, whatever the declaration says) to text."""
    if isinstance(body, str):
        return body
    if body.startswith(b"\xef\xbb\xbf"):
        return body[3:].decode("utf-8")
    try:
        return body.decode(WIRE_ENCODING)
    except UnicodeDecodeError:
        # Some senders declare GBK and write UTF-8; accept it rather than lose the data.
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedXmlError(f"body is neither GBK nor UTF-8: {exc}") from None


def _elements(body: bytes | str, root: str, item: str) -> list[Element]:
    text = decode_body(body)
    if _UNSAFE.search(text):
        raise UnsafeXmlError("DTDs and entity declarations are refused")
    text = _DECLARATION.sub("", text, count=1).strip()
    if not text.startswith("<"):
        raise MalformedXmlError(f"not an XML body: {text[:40]!r}")
    # Drop the root tags and wrap in one of our own: this accepts a complete document, one
    # whose opening root tag was lost (as in the vendor's sample), and bare items.
    inner = re.sub(rf"</?{root}\s*>", "", text)
    document = f"<{root}>{inner}</{root}>"
    try:
        if "<!" in document:
            # Comments or CDATA (DTDs were refused above): defusedxml's hardened parser.
            tree = DefusedET.fromstring(document, forbid_dtd=True)
        else:
            # No markup declaration at all, so no entity can be defined or fetched: the C
            # parser is safe here and 3x faster than defusedxml's Python-level callbacks.
            tree = ET.fromstring(document)
    except DefusedXmlException as exc:
        raise UnsafeXmlError(str(exc)) from None
    except ParseError as exc:
        raise MalformedXmlError(f"malformed XML: {exc}") from None
    stray = [child.tag for child in tree if child.tag != item]
    if stray:
        raise MalformedXmlError(f"unexpected element(s) {stray[:3]} in <{root}>")
    return list(tree)


def _fields(node: Element) -> dict[str, str]:
    """A node's child elements as {tag: text}, in one pass (the first of a repeated tag wins)."""
    fields: dict[str, str] = {}
    for child in node:
        fields.setdefault(child.tag, child.text or "")
    return fields


def _int(fields: dict[str, str], tag: str) -> int:
    value = fields.get(tag, "").strip()
    try:
        return int(value) if value else 0
    except ValueError:
        raise MalformedXmlError(f"<{tag}> is not a number: {value!r}") from None


def parse_reports(body: bytes | str) -> list[Report]:
    """The reports of a pushed or pulled ``<reports>`` body.

    :raises UnsafeXmlError: DTD or entities present.
    :raises MalformedXmlError: not XML, wrong shape, or a report without mobile or msg_id.
    """
    reports = []
    for node in _elements(body, "reports", "report"):
        f = _fields(node)
        report = Report(
            mobile=f.get("mobile", "").strip(),
            msg_id=f.get("msg_id", "").strip(),
            sub_seq=_int(f, "sub_seq"),
            err=f.get("err", "").strip(),
            fail_desc=f.get("fail_desc", "").strip(),
            report_time=parse_gateway_time(f.get("report_time", "")),
            corp_id=f.get("corp_id", "").strip(),
        )
        if not report.mobile or not report.msg_id:
            raise MalformedXmlError("a <report> lacks <mobile> or <msg_id>")
        reports.append(report)
    return reports


def parse_replies(body: bytes | str) -> list[Reply]:
    """The replies of a pushed or pulled ``<delivers>`` body.

    :raises UnsafeXmlError: DTD or entities present.
    :raises MalformedXmlError: not XML, wrong shape, or a reply without mobile.
    """
    replies = []
    for node in _elements(body, "delivers", "deliver"):
        f = _fields(node)
        reply = Reply(
            mobile=f.get("mobile", "").strip(),
            # Content is kept as sent (no strip): a reply may be a space-padded keyword.
            content=f.get("content", ""),
            ext=f.get("ext", "").strip(),
            time=parse_gateway_time(f.get("time", "")),
            corp_id=f.get("corp_id", "").strip(),
        )
        if not reply.mobile:
            raise MalformedXmlError("a <deliver> lacks <mobile>")
        replies.append(reply)
    return replies


_PROLOG = '<?xml version="1.0" encoding="GBK" ?>\n'


def _node(tag: str, fields: Iterable[tuple[str, object]]) -> str:
    inner = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in fields)
    return f"<{tag}>{inner}</{tag}>"


def build_reports_xml(reports: Iterable[Report]) -> bytes:
    """A ``<reports>`` body in the gateway's form, GBK-encoded."""
    nodes = "".join(
        _node(
            "report",
            (
                ("corp_id", r.corp_id),
                ("mobile", r.mobile),
                ("sub_seq", r.sub_seq),
                ("msg_id", r.msg_id),
                ("err", r.err),
                ("fail_desc", r.fail_desc),
                ("report_time", format_gateway_time(r.report_time)),
            ),
        )
        for r in reports
    )
    return f"{_PROLOG}<reports>{nodes}</reports>".encode(WIRE_ENCODING)


def build_replies_xml(replies: Iterable[Reply]) -> bytes:
    """A ``<delivers>`` body in the gateway's form, GBK-encoded."""
    nodes = "".join(
        _node(
            "deliver",
            (
                ("corp_id", r.corp_id),
                ("mobile", r.mobile),
                ("ext", r.ext),
                ("time", format_gateway_time(r.time)),
                ("content", r.content),
            ),
        )
        for r in replies
    )
    return f"{_PROLOG}<delivers>{nodes}</delivers>".encode(WIRE_ENCODING)
