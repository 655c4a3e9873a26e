"""Report and reply XML built in the gateway's form: whole GBK bodies (for the simulator and
tests) and single items (as kept in quarantine for items that came as objects)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from airflow_provider_hbsms.protocol.endpoints import WIRE_ENCODING
from airflow_provider_hbsms.protocol.models import format_gateway_time

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from airflow_provider_hbsms.protocol.models import Reply, Report

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
