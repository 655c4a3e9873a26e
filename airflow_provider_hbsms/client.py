"""HbSmsClient: the I/O edge of the provider, over a ``Transport`` (``PlainTransport`` for
plain HTTP, ``RequestsTransport`` for TLS and proxies, or one given, such as the test kit's).

Retry policy, by what a repeat can do (the client's alone: a transport never retries):

* sends (``/sms_send2.do``, ``/hSmsSend.do``) are never repeated here. A request that never left
  (refused, connect timeout, DNS) is ``RequestNotSentError``: nothing was processed. Any failure
  after it may have left (read timeout, reset, HTTP error status, unreadable reply) is
  ``SendOutcomeUnknownError``: the gateway may have accepted it.
* balance is read-only: it is retried on ``RequestNotSentError``, ``BalanceReplyLostError``
  and ``104`` (too soon).
* pulls hand data over once: ``-19`` (too soon) is waited out and retried, but a pull whose
  reply was lost cannot be fetched again: ``PullReplyLostError`` says so, and when.

Both transports give every request one deadline (connect, send and the whole reply), read at
most ``max_reply_bytes`` of a reply, and fail alike: the client's errors are the same over either.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_hbsms.client_transport import failure_of, open_transport, reply_lost
from airflow_provider_hbsms.exceptions import (
    BalanceReplyLostError,
    RateLimitedError,
    ReplyTooLargeError,
    RequestNotSentError,
    SendOutcomeUnknownError,
    UnexpectedReplyError,
)
from airflow_provider_hbsms.pacing import DEFAULT_INTERVAL, SCOPES, account_pacers
from airflow_provider_hbsms.protocol import forms
from airflow_provider_hbsms.protocol.endpoints import (
    MAX_REPLIES_PER_BODY,
    MAX_REPORTS_PER_BODY,
    Endpoint,
)
from airflow_provider_hbsms.protocol.models import SendResult
from airflow_provider_hbsms.protocol.replies import (
    parse_balance_reply,
    parse_replies_reply,
    parse_reports_reply,
    parse_send_reply,
    pull_body,
)
from airflow_provider_hbsms.transport import (
    DEFAULT_MAX_REPLY_BYTES,
    MaybeSent,
    NotSent,
    TransportLimits,
    positive_seconds,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from decimal import Decimal
    from pathlib import Path

    from sqlalchemy import Engine

    from airflow_provider_hbsms.pacing import Pacer
    from airflow_provider_hbsms.protocol.models import (
        Credentials,
        PersonalizedItem,
        Reply,
        Report,
    )
    from airflow_provider_hbsms.transport import Transport

log = logging.getLogger(__name__)

_HEADERS = {"Content-Type": forms.CONTENT_TYPE, "Accept": "text/plain, text/xml, */*"}
_MAX_ITEMS = {
    Endpoint.PULL_REPORTS: MAX_REPORTS_PER_BODY,
    Endpoint.PULL_REPLIES: MAX_REPLIES_PER_BODY,
}


class HbSmsClient:
    """A client of one HB SMS account.

    :param base_url: scheme, host and port, e.g. ``http://sms.hbsmservice.com:8080``.
    :param credentials: the account.
    :param channel_number: the account's special service number, for the ext length rule.
    :param signature: the signature the gateway appends, for segment counting.
    :param connect_timeout: seconds to establish a connection.
    :param read_timeout: seconds to wait for each read of a reply.
    :param deadline: seconds for a whole request: connect, send and the whole reply (default
        ``connect_timeout + read_timeout``); a gateway that drips its reply cannot hold a call
        longer.
    :param max_reply_bytes: longest reply read (1 MiB by default; a pull of 100 reports is
        about 30 KB).
    :param verify: verify TLS certificates (or a CA bundle path).
    :param max_connection_age: seconds after which pooled connections are replaced, so that a
        change of the gateway's DNS reaches us.
    :param idle_timeout: seconds of idleness after which connections are replaced before a
        send; a connection the server closed while idle would otherwise make a send's outcome
        look unknown.
    :param rate_limit_wait: seconds a paced call keeps retrying ``104`` / ``-19`` replies, and
        balance keeps retrying ``RequestNotSentError`` / ``BalanceReplyLostError``.
    :param pool_size: connections kept for concurrent callers (threads) of this client.
    :param pacing_dir: directory of the cross-process pacing files.
    :param pacing_engine: a PostgreSQL engine (the store's) to pace through, across hosts;
        None or SQLite: pacing files.
    :param pacing_scope: ``account`` (default: balance and both pulls take turns, as the
        document words the rule) or ``endpoint`` (each endpoint on its own).
    :param pacing_interval: seconds from the end of a paced call to the start of the next.
    :param validate: check every field before sending (turn off only for pre-validated input).
    :param transport: the wire to post over (for tests, the test kit's ``MockTransport``); by
        default ``PlainTransport`` for plain HTTP, ``RequestsTransport`` for TLS or a proxy set
        in the environment, built from the settings above.
    """

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        channel_number: str = "",
        signature: str = "",
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        verify: bool | str = True,
        max_connection_age: float = 300.0,
        idle_timeout: float = 4.0,
        rate_limit_wait: float = 30.0,
        pool_size: int = 4,
        pacing_dir: Path | None = None,
        pacing_engine: Engine | None = None,
        pacing_scope: str = "account",
        pacing_interval: float = DEFAULT_INTERVAL,
        deadline: float | None = None,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        validate: bool = True,
        transport: Transport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.channel_number = channel_number
        self.signature = signature
        connect_timeout = positive_seconds("connect_timeout", connect_timeout)
        read_timeout = positive_seconds("read_timeout", read_timeout)
        self.timeout = (connect_timeout, read_timeout)
        self.deadline = (
            positive_seconds("deadline", deadline)
            if deadline is not None
            else connect_timeout + read_timeout
        )
        if max_reply_bytes < 1024:
            raise ValueError(f"max_reply_bytes must be at least 1024, got {max_reply_bytes}")
        self.max_reply_bytes = max_reply_bytes
        if pacing_scope not in SCOPES:
            raise ValueError(f"pacing_scope must be one of {SCOPES}, got {pacing_scope!r}")
        self.pacing_scope = pacing_scope
        self.pacing_interval = pacing_interval
        self._pacing_dir = pacing_dir
        self.verify = verify
        self.max_connection_age = max_connection_age
        self.idle_timeout = idle_timeout
        self.rate_limit_wait = rate_limit_wait
        self.pool_size = pool_size
        self.validate = validate
        self._headers = {**_HEADERS, "Connection": "keep-alive"}
        self.pace_with(pacing_engine)
        if transport is None:
            limits = TransportLimits(
                connect_timeout, read_timeout, self.deadline, max_reply_bytes, pool_size,
                max_connection_age, idle_timeout,
            )  # fmt: skip
            transport = open_transport(self.base_url, limits, verify=verify)
        self.transport = transport

    def __repr__(self) -> str:
        return f"HbSmsClient({self.base_url!r}, corp_id={self.credentials.corp_id!r})"

    def pace_with(self, engine: Engine | None) -> None:
        """Pace balance and pulls through this store's database when it is PostgreSQL (across
        hosts), else through pacing files (across the processes of one machine).

        :param engine: the store's engine.
        """
        self._pacers: dict[Endpoint, Pacer] = account_pacers(
            f"{self.base_url}|{self.credentials.corp_id}",
            self.pacing_scope,
            self.pacing_interval,
            directory=self._pacing_dir,
            engine=engine,
        )

    @property
    def pacers(self) -> dict[Endpoint, Pacer]:
        """The pacer of each paced endpoint (one shared pacer under the ``account`` scope)."""
        return dict(self._pacers)

    def close(self) -> None:
        """Close the pooled connections."""
        self.transport.close()

    def __enter__(self) -> HbSmsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _post(self, endpoint: Endpoint, body: bytes, submitted: int = 0) -> bytes:
        """POST ``body``; the reply body, or the failure as the typed error for ``endpoint``."""
        try:
            status, reason, content = self.transport.post(
                endpoint.path, body, self._headers, idempotent=not endpoint.is_send
            )
        except (NotSent, MaybeSent) as exc:
            raise failure_of(endpoint, exc, submitted, self.credentials.corp_id) from None
        if status != 200:
            reason = f"HTTP {status} {reason}".strip()
            raise reply_lost(endpoint, reason, submitted, self.credentials.corp_id)
        log.debug("%s: %d bytes sent, HTTP 200", endpoint.path, len(body))
        return content

    def _send(self, endpoint: Endpoint, body: bytes, submitted: int) -> int:
        reply = self._post(endpoint, body, submitted)
        try:
            return parse_send_reply(reply, endpoint)
        except UnexpectedReplyError as exc:
            # An unreadable reply to a send says nothing of what the gateway did with it.
            raise SendOutcomeUnknownError(endpoint, str(exc), submitted) from None

    def _paced(self, endpoint: Endpoint, parse: Callable[[bytes], Any]) -> Any:
        """Call a paced endpoint in this account's turn; retry "too soon" until
        rate_limit_wait."""
        deadline = time.monotonic() + self.rate_limit_wait
        body = (
            forms.build_balance_body(self.credentials)
            if endpoint is Endpoint.BALANCE
            else forms.build_pull_body(self.credentials)
        )
        while True:
            with self._pacers[endpoint].hold():
                reply = self._post(endpoint, body)
            try:
                return parse(reply)
            except RateLimitedError:
                if time.monotonic() >= deadline:
                    raise
                log.info("%s: called too soon (another poller?), waiting", endpoint.path)

    def _pull(self, endpoint: Endpoint, parse: Callable[[bytes], list[Any]]) -> list[Any]:
        def capped(reply: bytes) -> list[Any]:
            items = parse(reply)
            limit = _MAX_ITEMS[endpoint]
            if len(items) > limit:
                # Handed over once: the body is kept as a dead letter by the collector.
                raise ReplyTooLargeError(
                    endpoint, f"{len(items)} items in one pull (at most {limit})", body=reply
                )
            return items

        return self._paced(endpoint, capped)

    def send(
        self, mobiles: Sequence[str], content: str, corp_msg_id: str, ext: str = ""
    ) -> SendResult:
        """Send one text to up to 200 numbers (``/sms_send2.do``).

        :raises HbSmsValidationError: a field breaks a rule; nothing was sent.
        :raises GatewayError: the gateway refused the request (nothing was accepted).
        :raises RequestNotSentError: the request never left; nothing was sent.
        :raises SendOutcomeUnknownError: the gateway may have accepted it; do not resend blindly.
        """
        body = forms.build_send_body(
            self.credentials,
            mobiles,
            content,
            corp_msg_id,
            ext,
            channel_number=self.channel_number,
            validate=self.validate,
        )
        accepted = self._send(Endpoint.SEND, body, len(mobiles))
        return SendResult(Endpoint.SEND, len(mobiles), accepted, corp_msg_id)

    def send_personalized(self, items: Sequence[PersonalizedItem]) -> SendResult:
        """Send up to 200 individual messages (``/hSmsSend.do``).

        Raises as ``send`` does.
        """
        return self.send_body(Endpoint.PERSONALIZED_SEND, self.personalized_body(items), len(items))

    def personalized_body(self, items: Sequence[PersonalizedItem]) -> bytes:
        """The validated body ``send_personalized`` would post, for ``send_body``."""
        return forms.build_personalized_body(
            self.credentials, items, channel_number=self.channel_number, validate=self.validate
        )

    def send_body(
        self, endpoint: Endpoint, body: bytes, submitted: int, corp_msg_id: str = ""
    ) -> SendResult:
        """Post a send body built beforehand (by ``personalized_body`` or the protocol's
        builders); raises as ``send`` does."""
        accepted = self._send(endpoint, body, submitted)
        return SendResult(endpoint, submitted, accepted, corp_msg_id)

    def get_balance(self, retry_transport: bool = True) -> Decimal:
        """The account balance (``/sms_count2.do``); retried while the gateway says too soon
        and, unless ``retry_transport`` is off, when no usable reply came (it changes nothing).

        :param retry_transport: retry unreachable hosts and lost replies for up to
            ``rate_limit_wait``; off for a quick check such as the connection's Test button.
        """
        deadline = time.monotonic() + self.rate_limit_wait
        while True:
            try:
                balance: Decimal = self._paced(Endpoint.BALANCE, parse_balance_reply)
                return balance
            except (RequestNotSentError, BalanceReplyLostError):
                if not retry_transport or time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)

    def fetch_reports(self) -> list[Report]:
        """One pull of delivery reports (at most 100); ``[]`` when none are waiting.

        What a pull returns is not returned again: store it before anything else.

        :raises PullReplyLostError: the reply was lost after the gateway handed the page over.
        :raises ReplyTooLargeError: over ``max_reply_bytes`` or over 100 reports (``body``
            holds what was read).
        """
        reports: list[Report] = self._pull(Endpoint.PULL_REPORTS, parse_reports_reply)
        return reports

    def fetch_replies(self) -> list[Reply]:
        """One pull of replies (at most 10); ``[]`` when none are waiting. Store before use.

        Raises as ``fetch_reports`` does.
        """
        replies: list[Reply] = self._pull(Endpoint.PULL_REPLIES, parse_replies_reply)
        return replies

    def pull_raw(self, endpoint: Endpoint) -> bytes | None:
        """One pull of ``endpoint``, its body unread (to be kept before it is parsed); None
        when nothing is waiting."""
        body: bytes | None = self._paced(endpoint, lambda reply: pull_body(reply, endpoint))
        return body
