"""``RequestsTransport``: the POST through a ``requests.Session``'s adapter, for TLS (certificate
verification) and proxies, which plain ``http.client`` does not serve.

Classified as ``PlainTransport`` classifies: a failure before any byte left is ``NotSent``, any
after it ``MaybeSent``. One deadline per request (connect, send, the whole reply): a ``Watch``
shuts the request's socket down when it passes, which ends whatever read or write is blocked on
it. urllib3 never retries: a send must never be repeated on our behalf.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import socket
import threading
from typing import TYPE_CHECKING, Any

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection as _U3Connection
from urllib3.connection import HTTPSConnection as _U3SConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError
from urllib3.util.retry import Retry

from airflow_provider_hbsms.transport import (
    MaybeSent,
    NotSent,
    Recycled,
    TooLarge,
    TransportLimits,
    describe,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

log = logging.getLogger(__name__)

# What the requests path may raise while reading a streamed body, beside requests' own.
_READ_ERRORS = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


def environ_proxies(base_url: str) -> dict[str, str]:
    """The proxies the environment sets for ``base_url`` (``HTTP_PROXY``, ``NO_PROXY``, ...)."""
    proxies: dict[str, str] = requests.utils.get_environ_proxies(base_url)
    return proxies


def _never_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the connection failed before any byte of the request could leave."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason: Any = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # MaxRetryError wraps the cause
    return isinstance(reason, ConnectTimeoutError)  # NewConnectionError, NameResolutionError


class Watch:
    """One request's deadline on the ``requests`` path: when it passes, the socket the request
    uses is shut down, which ends whatever read or write is blocked on it."""

    def __init__(self) -> None:
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def attach(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sock = sock
            if self.expired:
                _abort(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                _abort(self._sock)


_watching = threading.local()


def watch_request(watch: Watch | None) -> None:
    """Make ``watch`` the deadline of the requests this thread makes next (None: no watch)."""
    _watching.current = watch


def _abort(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


def _attach(sock: Any) -> None:
    watch = getattr(_watching, "current", None)
    if watch is not None:
        watch.attach(sock)


class _Watched:
    """Registers the connection's socket with the calling thread's ``Watch``."""

    sock: Any

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _attach(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> Any:
        _attach(self.sock)
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedConnection(_Watched, _U3Connection):
    pass


class _WatchedSConnection(_Watched, _U3SConnection):
    pass


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedSConnection


_WATCHED_POOLS = {"http": _WatchedPool, "https": _WatchedSPool}


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections a ``Watch`` can cut (HTTP and HTTPS proxies too;
    SOCKS proxies keep urllib3's own pools, bounded by the per-read timeout only)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_WATCHED_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        return manager


def read_capped_stream(raw: Any, cap: int) -> bytes:
    """A streamed urllib3 reply's body, refused (``TooLarge``) past ``cap`` bytes."""
    declared = raw.headers.get("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > cap:
        raise TooLarge(f"reply of {int(declared)} bytes refused (the cap is {cap})", raw.read(cap))
    data = raw.read(cap + 1, decode_content=True)
    if len(data) > cap:
        raise TooLarge(f"reply over {cap} bytes refused", data[:cap])
    return bytes(data)


class RequestsTransport:
    """The ``Transport`` for HTTPS and for proxies: prepared requests through a session's
    ``DeadlineAdapter``, which applies TLS verification and proxy settings.

    :param base_url: scheme, host, port and an optional path prefix.
    :param limits: timeouts, deadline, reply cap and pool settings.
    :param verify: verify TLS certificates (or a CA bundle path).
    :param proxies: the proxies to use (by default those the environment sets, read once here).
    """

    def __init__(
        self,
        base_url: str,
        limits: TransportLimits | None = None,
        *,
        verify: bool | str = True,
        proxies: Mapping[str, str] | None = None,
    ) -> None:
        limits = limits or TransportLimits()
        self.base_url = base_url.rstrip("/")
        self.timeout = (min(limits.connect_timeout, limits.deadline), limits.read_timeout)
        self.deadline = limits.deadline
        self.max_reply_bytes = limits.max_reply_bytes
        self.pool_size = limits.pool_size
        self.verify = verify
        # Read once here rather than on every request (requests would scan os.environ per
        # call: ~1 ms, a fifth of a batch's CPU budget).
        self.proxies = dict(environ_proxies(self.base_url) if proxies is None else proxies)
        self.sessions = Recycled(
            self._new_session, limits.max_connection_age, limits.idle_timeout
        )

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
        session.proxies.update(self.proxies)
        session.trust_env = False
        return session

    def _template(
        self, session: requests.Session, path: str, headers: Mapping[str, str]
    ) -> requests.PreparedRequest:
        """The prepared request for ``path``, made once per session and copied per call."""
        templates: dict[str, tuple[Mapping[str, str], requests.PreparedRequest]] = (
            session.__dict__.setdefault("_hbsms_templates", {})
        )
        made = templates.get(path)
        if made is None or made[0] is not headers:
            url = self.base_url + path
            request = requests.Request("POST", url, headers=dict(headers), data=b"")
            made = templates[path] = (headers, session.prepare_request(request))
        return made[1]

    def post(
        self, path: str, body: bytes, headers: Mapping[str, str], *, idempotent: bool = True
    ) -> tuple[int, str, bytes]:
        """POST ``body`` to ``path``; see ``Transport.post``. A timer shuts the request's
        socket down at the deadline; every failure, the body's read included, becomes
        ``NotSent`` or ``MaybeSent``."""
        session = self.sessions.checkout(idempotent)
        try:
            return self._post(session, path, body, headers)
        finally:
            self.sessions.checkin()

    def _post(
        self, session: requests.Session, path: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, str, bytes]:
        request = self._template(session, path, headers).copy()
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
                    timeout=self.timeout,
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
            log.debug("%s: reply completed at the deadline", path)
        return response.status_code, response.reason or "", content

    def _deadline_or(self, watch: Watch, exc: BaseException) -> str:
        if watch.expired:
            return f"DeadlineExceeded: no whole reply within {self.deadline:g} s"
        return describe(exc)

    def close(self) -> None:
        """Close the pooled connections."""
        self.sessions.close()
