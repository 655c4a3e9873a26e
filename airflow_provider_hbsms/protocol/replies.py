"""Parsing of the gateway's plain-text replies into results or typed exceptions."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING

from airflow_provider_hbsms.protocol.codes import error_for
from airflow_provider_hbsms.protocol.endpoints import WIRE_ENCODING, Endpoint
from airflow_provider_hbsms.protocol.errors import UnexpectedReplyError, excerpt
from airflow_provider_hbsms.protocol.xmlcodec import parse_replies, parse_reports
from airflow_provider_hbsms.protocol.xmltext import XmlBodyError

if TYPE_CHECKING:
    from airflow_provider_hbsms.protocol.models import Reply, Report

_ACCEPTED = re.compile(r"0#([0-9]+)")
_BALANCE = re.compile(r"ok#(-?[0-9]+(?:\.[0-9]+)?)", re.IGNORECASE)


def reply_text(body: bytes) -> str:
    """A reply body as text: GBK, surrounding white space (and a stray BOM) removed."""
    return body.decode(WIRE_ENCODING, errors="replace").strip().lstrip("\ufeff").strip()


def _failure(endpoint: Endpoint, text: str) -> Exception:
    error = error_for(endpoint, text)
    if error is not None:
        return error
    # Redacted before it is cut: a gateway or proxy may echo the request, password and all.
    return UnexpectedReplyError(excerpt(text), "reply matches no documented form", endpoint)


def parse_send_reply(body: bytes, endpoint: Endpoint) -> int:
    """The accepted count ``N`` of a ``0#N`` send reply.

    ``0#0`` is a valid reply (nothing accepted), not an error; a reply that merely starts with
    ``0`` is not a success.

    :raises GatewayError: a documented error code, or ``UnexpectedReplyError``.
    """
    text = reply_text(body)
    match = _ACCEPTED.fullmatch(text)
    if match:
        return int(match.group(1))
    raise _failure(endpoint, text)


def parse_balance_reply(body: bytes) -> Decimal:
    """The balance of an ``ok#<balance>`` reply.

    :raises GatewayError: a documented error code (``104`` is ``RateLimitedError``), or
        ``UnexpectedReplyError``.
    """
    text = reply_text(body)
    match = _BALANCE.fullmatch(text)
    if match:
        return Decimal(match.group(1))
    raise _failure(Endpoint.BALANCE, text)


def _pull(body: bytes, endpoint: Endpoint) -> str | None:
    text = reply_text(body)
    if text == "0":
        return None
    if text.startswith("<"):
        return text
    raise _failure(endpoint, text)


def pull_body(body: bytes, endpoint: Endpoint) -> bytes | None:
    """A pull's body as received, for keeping before it is read; None for ``0`` (nothing
    waiting).

    :raises GatewayError: a documented error code, or ``UnexpectedReplyError``.
    """
    return None if _pull(body, endpoint) is None else body


def _unreadable(endpoint: Endpoint, exc: XmlBodyError, body: bytes) -> UnexpectedReplyError:
    # A pull hands data over once: keep the raw body on the error so the caller can save it.
    error = UnexpectedReplyError("xml", f"unreadable XML: {exc}", endpoint)
    error.body = body
    return error


def parse_reports_reply(body: bytes) -> list[Report]:
    """The reports of a ``/post_report.do`` reply; ``0`` (nothing waiting) is an empty list."""
    text = _pull(body, Endpoint.PULL_REPORTS)
    if text is None:
        return []
    try:
        return parse_reports(body)
    except XmlBodyError as exc:
        raise _unreadable(Endpoint.PULL_REPORTS, exc, body) from exc


def parse_replies_reply(body: bytes) -> list[Reply]:
    """The replies of a ``/post_deliverMsg.do`` reply; ``0`` (nothing waiting) is an empty list."""
    text = _pull(body, Endpoint.PULL_REPLIES)
    if text is None:
        return []
    try:
        return parse_replies(body)
    except XmlBodyError as exc:
        raise _unreadable(Endpoint.PULL_REPLIES, exc, body) from exc
