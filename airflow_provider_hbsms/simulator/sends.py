"""The simulated gateway's two send endpoints: what they accept, refuse and charge.

Each function checks an authenticated account's request, charges the account and hands the
accepted items to ``accept`` (the gateway records them and schedules their reports).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from airflow_provider_hbsms.protocol.endpoints import (
    MAX_BATCH,
    MAX_CALLER_ID_DIGITS,
    MAX_CONTENT_LENGTH,
    MAX_MSG_ID_LENGTH,
    Endpoint,
)
from airflow_provider_hbsms.protocol.forms import split_send_param
from airflow_provider_hbsms.protocol.segments import count_segments

#: An accepted message: (mobile, msg_id, ext, content, segments).
SendItem = tuple[str, str, str, str, int]

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_hbsms.simulator.accounts import AccountState

    #: Records an account's accepted messages and schedules their reports.
    Accept = Callable[[AccountState, Endpoint, list[SendItem]], None]

# The gateway's own notion of a valid number: exactly 11 digits (no prefixes, no spaces).
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_DIGITS = re.compile(r"[0-9]*")


def bulk_send(
    state: AccountState,
    form: dict[str, str],
    accept: Accept,
) -> str:
    """``/sms_send2.do``: one text to up to 200 numbers; the reply text.

    :param state: the authenticated account.
    :param form: the request's fields.
    :param accept: records the accepted messages.
    """
    if form.get("corp_service", "") not in state.account.services:
        return "109"
    content = form.get("msg_content", "")
    if not content or len(content) > MAX_CONTENT_LENGTH:
        return "102"
    numbers = [m.strip() for m in form.get("mobile", "").split(",") if m.strip()]
    valid = [m for m in numbers if _MOBILE.fullmatch(m)]
    if len(numbers) > MAX_BATCH or not valid:
        return "103"
    msg_id = form.get("corp_msg_id")
    if msg_id is None or len(msg_id) > MAX_MSG_ID_LENGTH:
        return "104"
    ext = form.get("ext")
    room = MAX_CALLER_ID_DIGITS - len(state.account.channel_number)
    if ext is None or not _DIGITS.fullmatch(ext) or len(ext) > room:
        return "110"
    segments = count_segments(content, state.account.signature)
    cost = state.account.price_per_segment * segments * len(valid)
    if state.balance < cost:
        return "100"
    state.balance -= cost
    accept(state, Endpoint.SEND, [(m, msg_id, ext, content, segments) for m in valid])
    return f"0#{len(valid)}"


def personalized_send(
    state: AccountState,
    form: dict[str, str],
    accept: Accept,
) -> str:
    """``/hSmsSend.do``: up to 200 (mobile, msg_id, ext, content) items; the reply text.
    Unreadable items are left out, the others sent.

    :param state: the authenticated account.
    :param form: the request's fields.
    :param accept: records the accepted messages.
    """
    if form.get("corp_service", "") not in state.account.services:
        return "109"
    raw_items = split_send_param(form.get("send_param", ""))
    try:
        total_count = int(form.get("total_count", ""))
    except ValueError:
        total_count = -1
    if len(raw_items) > MAX_BATCH or total_count > MAX_BATCH:
        return "116"
    if total_count != len(raw_items):
        return "115"  # the whole request is discarded: nothing recorded, nothing charged
    accepted: list[SendItem] = []
    room = MAX_CALLER_ID_DIGITS - len(state.account.channel_number)
    # Locals: this loop runs 200 times per request.
    signature, valid_mobile, digits = (
        state.account.signature,
        _MOBILE.fullmatch,
        _DIGITS.fullmatch,
    )
    for fields in raw_items:
        if len(fields) != 4:
            continue
        mobile, msg_id, ext, content = fields
        if (
            valid_mobile(mobile)
            and 0 < len(content) <= MAX_CONTENT_LENGTH
            and len(msg_id) <= MAX_MSG_ID_LENGTH
            and len(ext) <= room
            and digits(ext)
        ):
            accepted.append((mobile, msg_id, ext, content, count_segments(content, signature)))
    cost = state.account.price_per_segment * sum(item[4] for item in accepted)
    if accepted and state.balance < cost:
        return "100"
    state.balance -= cost
    accept(state, Endpoint.PERSONALIZED_SEND, accepted)
    if state.account.personalized_counts_segments:
        return f"0#{sum(item[4] for item in accepted)}"
    return f"0#{len(accepted)}"
