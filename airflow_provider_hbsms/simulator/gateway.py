"""The simulated gateway's behaviour: dispatch, balance, pulls and pushes, and the admin view.

Pure state and logic (no sockets): ``Gateway.handle`` takes a request and returns the reply
text. The HTTP server and the admin API call it; a lock makes it safe from several threads.
What the send endpoints accept is in ``sends.py``, the accounts in ``accounts.py``, the report
and reply queues in ``queues.py``.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from airflow_provider_hbsms.protocol.endpoints import (
    MAX_REPLIES_PER_BODY,
    MAX_REPORTS_PER_BODY,
    PACING_INTERVAL,
    Endpoint,
)
from airflow_provider_hbsms.protocol.forms import decode_form
from airflow_provider_hbsms.protocol.xmlbuild import build_replies_xml, build_reports_xml
from airflow_provider_hbsms.simulator.accounts import (
    AccountState,
    Arrival,
    PendingReport,
    ReceivedMessage,
    authenticate,
)
from airflow_provider_hbsms.simulator.queues import mature, new_reply, take_replies, take_reports
from airflow_provider_hbsms.simulator.sends import SendItem, bulk_send, personalized_send

if TYPE_CHECKING:
    from airflow_provider_hbsms.protocol.models import Reply, Report
    from airflow_provider_hbsms.simulator.config import SimulatorConfig

_PATHS = {e.path: e for e in Endpoint}


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
                a.corp_id: AccountState(replace(a), a.balance) for a in self.config.accounts
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

    def _send(self, form: dict[str, str] | None, client_ip: str) -> str:
        if form is None:
            return "102"  # undecodable body: the content could not be read
        state = authenticate(self.accounts, form, client_ip)
        if isinstance(state, str):
            return state
        return bulk_send(state, form, self._accept)

    def _personalized(self, form: dict[str, str] | None, client_ip: str) -> str:
        if form is None:
            return "0#0"
        state = authenticate(self.accounts, form, client_ip)
        if isinstance(state, str):
            return state
        return personalized_send(state, form, self._accept)

    def _accept(self, state: AccountState, endpoint: Endpoint, items: list[SendItem]) -> None:
        """Record (mobile, msg_id, ext, content, segments) items and schedule their reports."""
        now = time.time()
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
            schedule(PendingReport(due, mobile, msg_id, segments, ratio > 0 and draw() < ratio))

    # ------------------------------------------------------------------ balance and pulls

    def _balance(self, form: dict[str, str] | None, client_ip: str) -> str:
        state = authenticate(self.accounts, form or {}, client_ip, balance=True)
        if isinstance(state, str):
            return state
        now = time.monotonic()
        too_soon = now - state.last_balance_call < PACING_INTERVAL
        state.last_balance_call = now
        if too_soon:
            return "104"
        return f"ok#{state.balance:f}"  # plain decimal, never 1E+3

    def _pull(self, endpoint: Endpoint, form: dict[str, str] | None, client_ip: str) -> str:
        state = authenticate(self.accounts, form or {}, client_ip, pull=True)
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
            reports = take_reports(state, self.rng, MAX_REPORTS_PER_BODY)
            return build_reports_xml(reports).decode("gbk") if reports else "0"
        if state.account.reply_push_url:
            return "0"
        replies = take_replies(state, MAX_REPLIES_PER_BODY)
        return build_replies_xml(replies).decode("gbk") if replies else "0"

    # ------------------------------------------------------------------ reports and replies

    def flush_reports(self) -> None:
        """Make every pending report due now."""
        with self.lock:
            for state in self.accounts.values():
                mature(state, self.rng, force=True)

    def inject_reply(self, mobile: str, content: str, ext: str = "", corp_id: str = "") -> Reply:
        """An inbound message from ``mobile``, waiting for a pull or a push."""
        with self.lock:
            state = self.accounts[corp_id] if corp_id else next(iter(self.accounts.values()))
            return new_reply(state, mobile, content, ext)

    def take_for_push(self) -> list[tuple[str, str, list[Report] | list[Reply]]]:
        """Due reports and waiting replies of accounts that push: (kind, url, items) bodies."""
        bodies: list[tuple[str, str, list[Report] | list[Reply]]] = []
        with self.lock:
            for state in self.accounts.values():
                account = state.account
                if account.report_push_url:
                    mature(state, self.rng)
                    while state.reports:
                        batch = take_reports(state, self.rng, MAX_REPORTS_PER_BODY)
                        bodies.append(("reports", account.report_push_url, batch))
                if account.reply_push_url:
                    while state.replies:
                        replies = take_replies(state, MAX_REPLIES_PER_BODY)
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
