"""HbSmsClient: the I/O edge of the provider, over keep-alive connections (``http.client`` for
plain HTTP, a ``requests.Session`` for TLS and proxies).

Retry policy, by what a repeat can do:

* sends (``/sms_send2.do``, ``/hSmsSend.do``) are never repeated here. A failure before the
  request left (connection refused, connect timeout, DNS) is ``TransportError``: nothing was
  sent. Any failure after it may have left (read timeout, reset, HTTP error status, unreadable
  reply) is ``SendOutcomeUnknownError``: the gateway may have accepted it.
* balance is read-only: it is retried on transport errors and on ``104`` (too soon).
* pulls hand data over once: ``-19`` (too soon) is waited out and retried, but a pull whose
  reply was lost cannot be fetched again: ``PullReplyLostError`` says so, and when.

Both transports give every request one deadline (connect, send and the whole reply), read at
most ``max_reply_bytes`` of a reply, and raise the same typed errors.
"""

from __future__ import annotations

import http.client
import logging
import math
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from urllib3.exceptions import ConnectTimeoutError
from urllib3.util.retry import Retry

from airflow_provider_hbsms.pacing import DEFAULT_INTERVAL, SCOPES, make_pacer
from airflow_provider_hbsms.protocol import forms
from airflow_provider_hbsms.protocol.endpoints import (
    MAX_REPLIES_PER_BODY,
    MAX_REPORTS_PER_BODY,
    Endpoint,
)
from airflow_provider_hbsms.protocol.errors import (
    PullReplyLostError,
    RateLimitedError,
    ReplyTooLargeError,
    SendOutcomeUnknownError,
    TransportError,
    UnexpectedReplyError,
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
    DeadlineAdapter,
    MaybeSent,
    NotSent,
    PlainConnections,
    TooLarge,
    Watch,
    describe,
    read_capped_stream,
    watch_request,
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

log = logging.getLogger(__name__)

_HEADERS = {"Content-Type": forms.CONTENT_TYPE, "Accept": "text/plain, text/xml, */*"}
_PACED_FAMILY = {
    Endpoint.BALANCE: "balance",
    Endpoint.PULL_REPORTS: "reports",
    Endpoint.PULL_REPLIES: "replies",
}
_MAX_ITEMS = {
    Endpoint.PULL_REPORTS: MAX_REPORTS_PER_BODY,
    Endpoint.PULL_REPLIES: MAX_REPLIES_PER_BODY,
}
# What the requests path may raise while reading a streamed body, beside requests' own.
_READ_ERRORS = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


def positive_seconds(name: str, value: object) -> float:
    """``value`` as a finite number of seconds above 0, or a ``ValueError`` naming ``name``.

    :param name: the setting, for the message.
    :param value: what was given (a number or a numeric string).
    """
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{name} must be more than 0 seconds, got {value!r}")
    return seconds


def _never_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the connection failed before any byte of the request could leave."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason: Any = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # MaxRetryError wraps the cause
    return isinstance(reason, ConnectTimeoutError)  # NewConnectionError, NameResolutionError


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
        balance keeps retrying transport errors.
    :param pool_size: connections kept for concurrent callers (threads) of this client.
    :param pacing_dir: directory of the cross-process pacing files.
    :param pacing_engine: a PostgreSQL engine (the store's) to pace through, across hosts;
        None or SQLite: pacing files.
    :param pacing_scope: ``account`` (default: balance and both pulls take turns, as the
        document words the rule) or ``endpoint`` (each endpoint on its own).
    :param pacing_interval: seconds from the end of a paced call to the start of the next.
    :param validate: check every field before sending (turn off only for pre-validated input).
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
        self._base_path = urlsplit(self.base_url).path  # a reverse proxy's prefix, if any
        self._pacers = self._make_pacers(pacing_engine)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._session = self._new_session()
        self._plain = self._new_plain()
        self._born = self._last_used = time.monotonic()

    def __repr__(self) -> str:
        return f"HbSmsClient({self.base_url!r}, corp_id={self.credentials.corp_id!r})"

    # ------------------------------------------------------------------ pacing

    def _make_pacers(self, engine: Engine | None) -> dict[Endpoint, Pacer]:
        account = f"{self.base_url}|{self.credentials.corp_id}"
        pacers: dict[str, Pacer] = {}
        chosen: dict[Endpoint, Pacer] = {}
        for endpoint, family in _PACED_FAMILY.items():
            key = account if self.pacing_scope == "account" else f"{account}|{family}"
            if key not in pacers:
                pacers[key] = make_pacer(
                    key, self.pacing_interval, directory=self._pacing_dir, engine=engine
                )
            chosen[endpoint] = pacers[key]
        return chosen

    def pace_with(self, engine: Engine | None) -> None:
        """Pace balance and pulls through this store's database when it is PostgreSQL (across
        hosts), else through pacing files (across the processes of one machine).

        :param engine: the store's engine.
        """
        self._pacers = self._make_pacers(engine)

    @property
    def pacers(self) -> dict[Endpoint, Pacer]:
        """The pacer of each paced endpoint (one shared pacer under the ``account`` scope)."""
        return dict(self._pacers)

    # ------------------------------------------------------------------ connections

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        # No automatic retries at all: urllib3 must never resend a send on our behalf.
        adapter = DeadlineAdapter(
            max_retries=Retry(total=0, connect=0, read=0, redirect=0, status=0, other=0),
            pool_connections=1,
            pool_maxsize=self.pool_size,
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update(_HEADERS)
        # Proxy settings from the environment are read once here rather than on every request
        # (requests would scan os.environ per call: ~1 ms, a fifth of a batch's CPU budget).
        session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        session.trust_env = False
        return session

    def _new_plain(self) -> PlainConnections | None:
        """Plain HTTP without a proxy goes straight through ``http.client`` (about half the
        CPU of a request through requests' adapter); None when TLS or a proxy is needed."""
        parts = urlsplit(self.base_url)
        if parts.scheme != "http" or self._session.proxies or not parts.hostname:
            return None
        return PlainConnections(
            parts.hostname,
            parts.port or 80,
            self.timeout[0],
            self.timeout[1],
            self.pool_size,
            deadline=self.deadline,
            max_reply_bytes=self.max_reply_bytes,
        )

    def _checkout(self, endpoint: Endpoint) -> tuple[requests.Session, PlainConnections | None]:
        with self._lock:
            now = time.monotonic()
            expired = now - self._born > self.max_connection_age
            idle = endpoint.is_send and now - self._last_used > self.idle_timeout
            if (expired or idle) and self._in_flight == 0:
                self._session.close()
                self._session = self._new_session()
                if self._plain is not None:
                    self._plain.close()
                self._plain = self._new_plain()
                self._born = now
            self._in_flight += 1
            return self._session, self._plain

    def _template(self, session: requests.Session, endpoint: Endpoint) -> requests.PreparedRequest:
        templates: dict[Endpoint, requests.PreparedRequest] = session.__dict__.setdefault(
            "_hbsms_templates", {}
        )
        template = templates.get(endpoint)
        if template is None:
            url = self.base_url + endpoint.path
            template = session.prepare_request(requests.Request("POST", url, data=b""))
            templates[endpoint] = template
        return template

    def _checkin(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._last_used = time.monotonic()

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()
        if self._plain is not None:
            self._plain.close()

    def __enter__(self) -> HbSmsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def _post(self, endpoint: Endpoint, body: bytes, submitted: int = 0) -> bytes:
        """POST ``body``; the reply body, or the transport failure as our own exception."""
        session, plain = self._checkout(endpoint)
        try:
            if plain is not None:
                status, reason, content = plain.post(
                    self._base_path + endpoint.path, body, self._headers
                )
            else:
                status, reason, content = self._post_adapter(session, endpoint, body)
        except NotSent as exc:
            raise TransportError(endpoint, str(exc)) from None
        except TooLarge as exc:
            raise self._too_large(endpoint, str(exc), exc.head, submitted) from None
        except MaybeSent as exc:
            raise self._after_sending(endpoint, str(exc), submitted) from None
        finally:
            self._checkin()
        if status != 200:
            raise self._after_sending(endpoint, f"HTTP {status} {reason}".strip(), submitted)
        log.debug("%s: %d bytes sent, HTTP 200", endpoint.path, len(body))
        return content

    def _post_adapter(
        self, session: requests.Session, endpoint: Endpoint, body: bytes
    ) -> tuple[int, str, bytes]:
        """HTTPS or through a proxy: a prepared request through the session's adapter, which
        applies TLS verification and proxy settings. A timer shuts the request's socket down
        at the deadline; every failure, the body's read included, becomes ours."""
        request = self._template(session, endpoint).copy()
        request.body = body
        request.headers["Content-Length"] = str(len(body))
        watch = Watch()
        timer = threading.Timer(self.deadline, watch.expire)
        timer.daemon = True
        watch_request(watch)
        timer.start()
        try:
            try:
                response = session.get_adapter(request.url or "").send(
                    request,
                    stream=True,
                    timeout=(min(self.timeout[0], self.deadline), self.timeout[1]),
                    verify=self.verify,
                    proxies=session.proxies,
                )
            except requests.exceptions.ConnectionError as exc:
                if _never_sent(exc) and not watch.expired:
                    raise NotSent(describe(exc)) from None
                raise MaybeSent(self._deadline_or(watch, exc)) from None
            except _READ_ERRORS as exc:  # read timeout, TLS, proxy errors ...
                raise MaybeSent(self._deadline_or(watch, exc)) from None
            try:
                content = read_capped_stream(response.raw, self.max_reply_bytes)
            except TooLarge:
                response.close()
                raise
            except _READ_ERRORS as exc:  # a close or a timeout mid-body
                response.close()
                raise MaybeSent(self._deadline_or(watch, exc)) from None
            response.raw.release_conn()
        finally:
            timer.cancel()
            watch_request(None)
        if watch.expired:  # the reply came whole just as the deadline passed: keep it
            log.debug("%s: reply completed at the deadline", endpoint.path)
        return response.status_code, response.reason or "", content

    def _deadline_or(self, watch: Watch, exc: BaseException) -> str:
        if watch.expired:
            return f"DeadlineExceeded: no whole reply within {self.deadline:g} s"
        return describe(exc)

    def _after_sending(self, endpoint: Endpoint, reason: str, submitted: int) -> Exception:
        if endpoint.is_send:
            return SendOutcomeUnknownError(endpoint, reason, submitted)
        if endpoint is Endpoint.BALANCE:
            return TransportError(endpoint, reason, sent=True)
        return PullReplyLostError(endpoint, reason, corp_id=self.credentials.corp_id)

    def _too_large(self, endpoint: Endpoint, reason: str, head: bytes, submitted: int) -> Exception:
        if endpoint.is_send:
            return SendOutcomeUnknownError(endpoint, reason, submitted)
        error = ReplyTooLargeError("oversized", reason, endpoint)
        if endpoint is not Endpoint.BALANCE:
            error.body = head  # what was handed over, for a dead letter
        return error

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
                error = ReplyTooLargeError(
                    "too many items", f"{len(items)} items in one pull (at most {limit})", endpoint
                )
                error.body = reply  # handed over once: kept as a dead letter by the collector
                raise error
            return items

        items: list[Any] = self._paced(endpoint, capped)
        return items

    # ------------------------------------------------------------------ API

    def send(
        self, mobiles: Sequence[str], content: str, corp_msg_id: str, ext: str = ""
    ) -> SendResult:
        """Send one text to up to 200 numbers (``/sms_send2.do``).

        :raises HbSmsValidationError: a field breaks a rule; nothing was sent.
        :raises GatewayError: the gateway refused the request (nothing was accepted).
        :raises TransportError: the request never left; nothing was sent.
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
        and, unless ``retry_transport`` is off, on transport errors (it changes nothing).

        :param retry_transport: retry unreachable hosts and lost replies for up to
            ``rate_limit_wait``; off for a quick check such as the connection's Test button.
        """
        deadline = time.monotonic() + self.rate_limit_wait
        while True:
            try:
                balance: Decimal = self._paced(Endpoint.BALANCE, parse_balance_reply)
                return balance
            except TransportError:
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
