"""The simulated gateway's behaviour: accounts, sends, balance, reports, replies, pulls.

Pure state and logic (no sockets): ``Gateway.handle`` takes a request and returns the reply
text. The HTTP server and the admin API call it; a lock makes it safe from several threads.
"""

from __future__ import annotations

import ipaddress
import itertools
import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from airflow_provider_hbsms.protocol.endpoints import (
    MAX_BATCH,
    MAX_CALLER_ID_DIGITS,
    MAX_CONTENT_LENGTH,
    MAX_MSG_ID_LENGTH,
    MAX_REPLIES_PER_BODY,
    MAX_REPORTS_PER_BODY,
    PACING_INTERVAL,
    Endpoint,
)
from airflow_provider_hbsms.protocol.forms import decode_form, split_send_param
from airflow_provider_hbsms.protocol.models import GATEWAY_TZ, Reply, Report
from airflow_provider_hbsms.protocol.segments import count_segments
from airflow_provider_hbsms.protocol.xmlcodec import build_replies_xml, build_reports_xml

if TYPE_CHECKING:
    from airflow_provider_hbsms.simulator.config import SimAccount, SimulatorConfig

# The gateway's own notion of a valid number: exactly 11 digits (no prefixes, no spaces).
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_DIGITS = re.compile(r"[0-9]*")
_FAILURES = (("2", "undeliver"), ("DB:0140", "blacklisted"), ("MK:0001", "absent subscriber"))
_PATHS = {e.path: e for e in Endpoint}


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A message the gateway accepted.

    :param endpoint: the send endpoint's path.
    :param corp_id: the account.
    :param mobile: the number.
    :param msg_id: the corp_msg_id / item msg_id.
    :param ext: the ext.
    :param content: the text as decoded from GBK.
    :param segments: billed segments (signature included).
    :param received_at: ``time.time()`` of acceptance.
    """

    endpoint: str
    corp_id: str
    mobile: str
    msg_id: str
    ext: str
    content: str
    segments: int
    received_at: float


@dataclass(frozen=True, slots=True)
class Arrival:
    """A balance or pull request as the gateway saw it arrive.

    :param at: ``time.monotonic()`` when the request had arrived whole.
    :param path: the endpoint's path.
    :param corp_id: the account named in the request (as sent, even if unknown).
    """

    at: float
    path: str
    corp_id: str


@dataclass(slots=True)
class _Pending:
    due: float
    mobile: str
    msg_id: str
    segments: int
    failed: bool


@dataclass
class _AccountState:
    account: SimAccount
    balance: Decimal
    last_balance_call: float = -1.0
    last_pull: dict[str, float] = field(default_factory=dict)
    pending: deque[_Pending] = field(default_factory=deque)
    reports: deque[Report] = field(default_factory=deque)
    replies: deque[Reply] = field(default_factory=deque)
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None = None

    def __post_init__(self) -> None:
        if self.account.allowed_ips is not None:
            self.networks = [
                ipaddress.ip_network(n, strict=False) for n in self.account.allowed_ips
            ]


class Gateway:
    """The simulated gateway's state.

    :param config: accounts and behaviour.
    """

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Back to the configured accounts, with nothing received or waiting."""
        with self.lock:
            self.accounts = {
                a.corp_id: _AccountState(replace(a), a.balance) for a in self.config.accounts
            }
            self.received: list[ReceivedMessage] = []
            self.requests: dict[str, int] = {}
            self.arrivals: list[Arrival] = []
            self.rng = random.Random(self.config.seed)

    # ------------------------------------------------------------------ dispatch

    def handle(self, method: str, path: str, body: bytes, client_ip: str) -> str:
        """Process one request; the reply text (GBK is applied by the server)."""
        arrived = time.monotonic()
        path, _, query = path.partition("?")
        endpoint = _PATHS.get(path)
        if endpoint is None:
            return "9"
        if not body and query:
            body = query.encode("latin-1")  # a GET with its fields in the query string
        with self.lock:
            self.requests[endpoint.path] = self.requests.get(endpoint.path, 0) + 1
            if endpoint is Endpoint.PERSONALIZED_SEND and method != "POST":
                return "114"
            try:
                form = decode_form(body)
            except UnicodeDecodeError:
                form = None
            if endpoint.is_paced:  # kept for pacing checks: when each paced call arrived
                corp_id = form.get("corp_id", "") if form else ""
                self.arrivals.append(Arrival(arrived, endpoint.path, corp_id))
            if endpoint is Endpoint.SEND:
                return self._send(form, client_ip)
            if endpoint is Endpoint.PERSONALIZED_SEND:
                return self._personalized(form, client_ip)
            if endpoint is Endpoint.BALANCE:
                return self._balance(form, client_ip)
            return self._pull(endpoint, form, client_ip)

    def _authenticate(
        self, form: dict[str, str], client_ip: str, pull: bool = False, balance: bool = False
    ) -> _AccountState | str:
        corp_id = form.get("corp_id", "")
        # Every parameter table names corp_pwd; only the balance demo sends pwd.
        password = form.get("corp_pwd", form.get("pwd", "") if balance else "")
        state = self.accounts.get(corp_id)
        if state is None:
            return "-16" if pull else "106"
        if password != state.account.corp_pwd:
            return "-17" if pull else "107"
        if state.account.closed:
            return "-11" if pull else "101"
        if state.networks is not None:
            address = ipaddress.ip_address(client_ip)
            if not any(address in network for network in state.networks):
                return "108"
        return state

    # ------------------------------------------------------------------ sends

    def _segments(self, state: _AccountState, content: str) -> int:
        return count_segments(content, state.account.signature)

    def _send(self, form: dict[str, str] | None, client_ip: str) -> str:
        if form is None:
            return "102"  # undecodable body: the content could not be read
        state = self._authenticate(form, client_ip)
        if isinstance(state, str):
            return state
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
        if ext is None or not self._ext_ok(state, ext):
            return "110"
        segments = self._segments(state, content)
        cost = state.account.price_per_segment * segments * len(valid)
        if state.balance < cost:
            return "100"
        state.balance -= cost
        now = time.time()
        self._accept(
            state, Endpoint.SEND, [(m, msg_id, ext, content, segments) for m in valid], now
        )
        return f"0#{len(valid)}"

    def _personalized(self, form: dict[str, str] | None, client_ip: str) -> str:
        if form is None:
            return "0#0"
        state = self._authenticate(form, client_ip)
        if isinstance(state, str):
            return state
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
        accepted: list[tuple[str, str, str, str, int]] = []
        room = MAX_CALLER_ID_DIGITS - len(state.account.channel_number)
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
        now = time.time()
        self._accept(state, Endpoint.PERSONALIZED_SEND, accepted, now)
        if state.account.personalized_counts_segments:
            return f"0#{sum(item[4] for item in accepted)}"
        return f"0#{len(accepted)}"

    def _ext_ok(self, state: _AccountState, ext: str) -> bool:
        room = MAX_CALLER_ID_DIGITS - len(state.account.channel_number)
        return bool(_DIGITS.fullmatch(ext)) and len(ext) <= room

    def _accept(
        self,
        state: _AccountState,
        endpoint: Endpoint,
        items: list[tuple[str, str, str, str, int]],
        now: float,
    ) -> None:
        """Record (mobile, msg_id, ext, content, segments) items and schedule their reports."""
        # Locals: this loop runs 200 times per personalized request.
        path, corp_id = endpoint.path, state.account.corp_id
        keep = self.config.record_content
        ratio, draw = self.config.failure_ratio, self.rng.random
        due = now + self.config.report_delay
        record, schedule = self.received.append, state.pending.append
        for mobile, msg_id, ext, content, segments in items:
            record(
                ReceivedMessage(
                    path, corp_id, mobile, msg_id, ext, content if keep else "", segments, now
                )
            )
            schedule(_Pending(due, mobile, msg_id, segments, ratio > 0 and draw() < ratio))

    # ------------------------------------------------------------------ balance and pulls

    def _balance(self, form: dict[str, str] | None, client_ip: str) -> str:
        state = self._authenticate(form or {}, client_ip, balance=True)
        if isinstance(state, str):
            return state
        now = time.monotonic()
        too_soon = now - state.last_balance_call < PACING_INTERVAL
        state.last_balance_call = now
        if too_soon:
            return "104"
        return f"ok#{state.balance:f}"  # plain decimal, never 1E+3

    def _pull(self, endpoint: Endpoint, form: dict[str, str] | None, client_ip: str) -> str:
        state = self._authenticate(form or {}, client_ip, pull=True)
        if isinstance(state, str):
            return state
        if not state.account.pull_enabled:
            return "-18"
        now = time.monotonic()
        too_soon = now - state.last_pull.get(endpoint.path, -1.0) < PACING_INTERVAL
        state.last_pull[endpoint.path] = now
        if too_soon:
            return "-19"
        if endpoint is Endpoint.PULL_REPORTS:
            if state.account.report_push_url:
                return "0"  # pushed accounts get nothing by pull
            reports = self._take_reports(state, MAX_REPORTS_PER_BODY)
            return build_reports_xml(reports).decode("gbk") if reports else "0"
        if state.account.reply_push_url:
            return "0"
        replies = self._take_replies(state, MAX_REPLIES_PER_BODY)
        return build_replies_xml(replies).decode("gbk") if replies else "0"

    # ------------------------------------------------------------------ reports and replies

    def _mature(self, state: _AccountState, force: bool = False) -> None:
        """Turn messages whose report is due into reports (one per segment when split)."""
        now = time.time()
        while state.pending and (force or state.pending[0].due <= now):
            p = state.pending.popleft()
            when = datetime.now(GATEWAY_TZ).replace(microsecond=0)
            parts = p.segments if state.account.split_long_messages and p.segments > 1 else 0
            err, desc = self.rng.choice(_FAILURES) if p.failed else ("0", "")
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

    def _take_reports(self, state: _AccountState, limit: int) -> list[Report]:
        self._mature(state)
        return [state.reports.popleft() for _ in range(min(limit, len(state.reports)))]

    def _take_replies(self, state: _AccountState, limit: int) -> list[Reply]:
        return [state.replies.popleft() for _ in range(min(limit, len(state.replies)))]

    def flush_reports(self) -> None:
        """Make every pending report due now."""
        with self.lock:
            for state in self.accounts.values():
                self._mature(state, force=True)

    def inject_reply(self, mobile: str, content: str, ext: str = "", corp_id: str = "") -> Reply:
        """An inbound message from ``mobile``, waiting for a pull or a push."""
        with self.lock:
            state = self.accounts[corp_id] if corp_id else next(iter(self.accounts.values()))
            reply = Reply(
                mobile=mobile,
                content=content,
                ext=ext,
                time=datetime.now(GATEWAY_TZ).replace(microsecond=0),
                corp_id=state.account.corp_id,
            )
            state.replies.append(reply)
            return reply

    def take_for_push(self) -> list[tuple[str, str, list[Report] | list[Reply]]]:
        """Due reports and waiting replies of accounts that push: (kind, url, items) bodies."""
        bodies: list[tuple[str, str, list[Report] | list[Reply]]] = []
        with self.lock:
            for state in self.accounts.values():
                account = state.account
                if account.report_push_url:
                    self._mature(state)
                    while state.reports:
                        batch = self._take_reports(state, MAX_REPORTS_PER_BODY)
                        bodies.append(("reports", account.report_push_url, batch))
                if account.reply_push_url:
                    while state.replies:
                        replies = self._take_replies(state, MAX_REPLIES_PER_BODY)
                        bodies.append(("replies", account.reply_push_url, replies))
        return bodies

    # ------------------------------------------------------------------ admin

    def update_account(self, corp_id: str, **changes: object) -> None:
        """Change an account (balance, closed, pull_enabled, push URLs, ...)."""
        with self.lock:
            state = self.accounts[corp_id]
            if "balance" in changes:
                state.balance = Decimal(str(changes.pop("balance")))
            state.account = replace(state.account, **changes)  # type: ignore[arg-type]
            state.__post_init__()

    def paced_gaps(self, corp_id: str, paths: tuple[str, ...] | None = None) -> list[float]:
        """Seconds between consecutive paced calls of an account, as they arrived here.

        :param corp_id: the account.
        :param paths: only these endpoints (default: balance and both pulls together).
        """
        with self.lock:
            times = [
                a.at
                for a in self.arrivals
                if a.corp_id == corp_id and (paths is None or a.path in paths)
            ]
        return [later - earlier for earlier, later in itertools.pairwise(times)]

    def stats(self) -> dict[str, object]:
        """Counters for the admin API and benchmarks."""
        with self.lock:
            return {
                "requests": dict(self.requests),
                "messages": len(self.received),
                "segments": sum(m.segments for m in self.received),
                "accounts": {
                    corp_id: {
                        "balance": str(state.balance),
                        "pending_reports": len(state.pending) + len(state.reports),
                        "waiting_replies": len(state.replies),
                    }
                    for corp_id, state in self.accounts.items()
                },
            }

    def queue_reports(self, corp_id: str, reports: list[Report]) -> None:
        """Put ready-made reports in an account's queue (for backlog benchmarks and tests)."""
        with self.lock:
            self.accounts[corp_id].reports.extend(reports)
