"""Report and reply XML parsed safely from GBK (GB18030) or declared bytes.

Parsing is tolerant of the variants seen in the vendor document and in the wild: a missing or
differently-declared XML declaration, a lost ``<reports>`` opening tag, a bare ``<report>``
without a root, ``000`` for delivered, missing optional fields. It refuses DTDs, entity
declarations and external entities (``UnsafeXmlError``) and malformed XML (``MalformedXmlError``).
``read_reports`` / ``read_replies`` read item by item: an unreadable item is returned with its
reason and XML fragment, the others are read. Decoding the bytes is ``xmltext.py``'s job,
building bodies ``xmlbuild.py``'s.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException

from airflow_provider_hbsms.exceptions import MalformedXmlError, UnsafeXmlError
from airflow_provider_hbsms.protocol.models import Reply, Report, parse_gateway_time
from airflow_provider_hbsms.protocol.xmlfast import fast_reports
from airflow_provider_hbsms.protocol.xmltext import decode_body

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from xml.etree.ElementTree import Element

_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_UNSAFE = re.compile(r"<!(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)


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


def _inner(body: bytes | str, root: str) -> str:
    """The body's text between its root tags, once it is known safe and XML-looking."""
    text = decode_body(body)
    if _UNSAFE.search(text):
        raise UnsafeXmlError("DTDs and entity declarations are refused")
    text = _DECLARATION.sub("", text, count=1).strip()
    if not text.startswith("<"):
        raise MalformedXmlError(f"not an XML body: {text[:40]!r}")
    return _unwrap(text, root)


def _tree(inner: str, root: str) -> Element:
    # Wrap the items in a root of our own: this accepts a complete document, one whose opening
    # root tag was lost, and bare items.
    document = f"<{root}>{inner}</{root}>"
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
        later; None when read without a tree: the fragment is then built from the item).
    :param refused: ``(fragment, reason)`` of each element that is not a readable item.
    """

    items: list[tuple[T, Element | None]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def fragment_of(node: Element) -> str:
    """The XML text of one item, as kept in quarantine (without the text that follows it, so
    that an item is the same fragment however its body was laid out)."""
    node.tail = None
    return ET.tostring(node, encoding="unicode")


def _read(
    body: bytes | str, root: str, item: str, build: Callable[[dict[str, str]], T]
) -> ReadBody[T]:
    return _read_tree(_tree(_inner(body, root), root), root, item, build)


def _read_tree(
    tree: Element, root: str, item: str, build: Callable[[dict[str, str]], T]
) -> ReadBody[T]:
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
    inner = _inner(body, "reports")
    fast = fast_reports(inner)
    if fast is not None:  # the plain shape: the same reports, without building a tree
        return ReadBody([(report, None) for report in fast])
    return _read_tree(_tree(inner, "reports"), "reports", "report", _report)


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
