"""A fast reader for the one shape nearly every reports body has: ``<report>`` elements of
the known fields, plain text, no attributes, comments, CDATA or character references.

A pushed or pulled page of 100 reports spends most of its reading time building an element
tree it then walks once; this reads the same fields straight from the text. It accepts a body
only when the whole of it is of that shape (one regular expression must match all of it), and
gives exactly what the tree would give; anything else (another field, an entity, a character
XML forbids, a field that is not a number or a time) returns None, and the caller parses the
body as XML, with its refusals and their reasons.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from airflow_provider_hbsms.protocol.models import Report, parse_gateway_time

if TYPE_CHECKING:
    from datetime import datetime

_FIELDS = ("mobile", "msg_id", "sub_seq", "err", "fail_desc", "report_time", "corp_id")
#: Field text the XML parser would read unchanged: no markup, no references, no carriage
#: return (which XML turns into a line feed) and no character XML 1.0 forbids.
_TEXT = "[^<&\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]*"
_SPACE = "[ \t\n]*"
_FIELD = "|".join(f"<{name}>{_TEXT}</{name}>" for name in _FIELDS)
_BODY = re.compile(f"{_SPACE}(?:<report>{_SPACE}(?:(?:{_FIELD}){_SPACE})*</report>{_SPACE})*")
_REPORT = re.compile("<report>(.*?)</report>", re.DOTALL)
_VALUE = re.compile(f"<({'|'.join(_FIELDS)})>({_TEXT})</\\1>")
#: One expression per order of distinct fields seen in a first report (a gateway writes every
#: report alike): a body whose reports all have that order is read by one ``findall``.
_IN_ORDER: dict[tuple[str, ...], re.Pattern[str]] = {}
_MOST_ORDERS = 16


def fast_reports(inner: str) -> list[Report] | None:
    """The reports of a ``<reports>`` body's inner text (between its root tags), or None when
    the text is not of the plain shape or any report would be refused."""
    if "]]>" in inner or _BODY.fullmatch(inner) is None:  # "]]>" is not well-formed text
        return None
    ordered = _in_order(inner)
    if ordered is not None:
        return _reports_in_order(*ordered)
    every: list[tuple[str, ...]] = []
    for element in _REPORT.finditer(inner):
        fields: dict[str, str] = {}
        for name, text in _VALUE.findall(element.group(1)):
            fields.setdefault(name, text)  # the first of a repeated field wins, as in the tree
        every.append(tuple(fields.get(name, "") for name in _FIELDS))  # a missing one is empty
    return _reports_in_order(_FIELDS, every)


def _in_order(inner: str) -> tuple[tuple[str, ...], list[tuple[str, ...]]] | None:
    """The order of the fields and each report's field texts in it, when every report lists
    the same distinct fields in the same order as the first one; else None (the caller reads
    report by report)."""
    first = _REPORT.search(inner)
    if first is None:
        return None
    order = tuple(name for name, _ in _VALUE.findall(first.group(1)))
    if not order or len(set(order)) != len(order):
        return None
    pattern = _IN_ORDER.get(order)
    if pattern is None:
        fields = _SPACE.join(f"<{name}>({_TEXT})</{name}>" for name in order)
        pattern = re.compile(f"<report>{_SPACE}{fields}{_SPACE}</report>")
        if len(_IN_ORDER) < _MOST_ORDERS:
            _IN_ORDER[order] = pattern
    found = pattern.findall(inner)
    # Field text holds no "<": a match is one whole report, so as many matches as reports
    # means every report has this order.
    if len(found) != inner.count("<report>"):
        return None
    return order, [(text,) for text in found] if len(order) == 1 else found


def _reports_in_order(order: tuple[str, ...], found: list[tuple[str, ...]]) -> list[Report] | None:
    """The reports from each one's field texts in ``order`` (by position: no dict per report,
    and each distinct time read once, as a page's reports share a few seconds), or None when
    any would be refused: no mobile or msg_id, a sub_seq that is not a number, a time that
    cannot be read."""
    at = {name: index for index, name in enumerate(order)}
    if "mobile" not in at or "msg_id" not in at:
        return None
    mobile_at, msg_id_at = at["mobile"], at["msg_id"]
    seq_at, err_at, desc_at = at.get("sub_seq"), at.get("err"), at.get("fail_desc")
    time_at, corp_at = at.get("report_time"), at.get("corp_id")
    times: dict[str, datetime | None] = {}
    reports: list[Report] = []
    for texts in found:
        mobile, msg_id = texts[mobile_at].strip(), texts[msg_id_at].strip()
        if not mobile or not msg_id:
            return None
        sub_seq = 0
        if seq_at is not None:
            seq_text = texts[seq_at].strip()
            if seq_text and seq_text != "0":
                try:
                    sub_seq = int(seq_text)
                except ValueError:
                    return None
        report_time: datetime | None = None
        if time_at is not None:
            when = texts[time_at].strip()
            if when:
                if when not in times:
                    times[when] = parse_gateway_time(when)
                report_time = times[when]
                if report_time is None:
                    return None
        reports.append(
            Report(
                mobile,
                msg_id,
                sub_seq,
                texts[err_at].strip() if err_at is not None else "",
                texts[desc_at].strip() if desc_at is not None else "",
                report_time,
                texts[corp_at].strip() if corp_at is not None else "",
            )
        )
    return reports
