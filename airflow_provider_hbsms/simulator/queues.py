"""The simulated gateway's report and reply queues: reports fall due, pulls and pushes take
them in bodies of at most the protocol's size."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

from airflow_provider_hbsms.protocol.models import GATEWAY_TZ, Reply, Report

if TYPE_CHECKING:
    import random

    from airflow_provider_hbsms.simulator.accounts import AccountState

#: The failures a failed message's report carries: (err, fail_desc).
_FAILURES = (("2", "undeliver"), ("DB:0140", "blacklisted"), ("MK:0001", "absent subscriber"))


def mature(state: AccountState, rng: random.Random, force: bool = False) -> None:
    """Turn messages whose report is due into reports (one per segment when split).

    :param state: the account.
    :param rng: picks each failure's code.
    :param force: every pending message, due or not.
    """
    now = time.time()
    while state.pending and (force or state.pending[0].due <= now):
        p = state.pending.popleft()
        when = datetime.now(GATEWAY_TZ).replace(microsecond=0)
        parts = p.segments if state.account.split_long_messages and p.segments > 1 else 0
        err, desc = rng.choice(_FAILURES) if p.failed else ("0", "")
        for sub_seq in range(1, parts + 1) if parts else (0,):
            # A failed long message: its last segment carries the failure.
            fails = p.failed and (sub_seq == parts or parts == 0)
            state.reports.append(
                Report(
                    mobile=p.mobile,
                    msg_id=p.msg_id,
                    sub_seq=sub_seq,
                    err=err if fails else "0",
                    fail_desc=desc if fails else "",
                    report_time=when,
                    corp_id=state.account.corp_id,
                )
            )


def take_reports(state: AccountState, rng: random.Random, limit: int) -> list[Report]:
    """Up to ``limit`` due reports, oldest first, gone from the queue."""
    mature(state, rng)
    return [state.reports.popleft() for _ in range(min(limit, len(state.reports)))]


def take_replies(state: AccountState, limit: int) -> list[Reply]:
    """Up to ``limit`` waiting replies, oldest first, gone from the queue."""
    return [state.replies.popleft() for _ in range(min(limit, len(state.replies)))]


def new_reply(state: AccountState, mobile: str, content: str, ext: str) -> Reply:
    """An inbound message from ``mobile`` to the account, now, put in its queue."""
    reply = Reply(
        mobile=mobile,
        content=content,
        ext=ext,
        time=datetime.now(GATEWAY_TZ).replace(microsecond=0),
        corp_id=state.account.corp_id,
    )
    state.replies.append(reply)
    return reply
