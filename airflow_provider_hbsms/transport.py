"""Keep-alive plain-HTTP connections straight over ``http.client``: the client's hot path.

A send is a single POST whose outcome must be classified exactly: a failure before any byte
left is ``NotSent``; any failure after is ``MaybeSent``. Connections are reused only if the
server has not closed them meanwhile (checked without blocking before each request), so an idle
connection the gateway dropped never turns a send into an unknown outcome. Plain HTTP without a
proxy is what this module serves; TLS and proxies go through ``requests`` in the client.

Every request has one deadline for connecting, sending and reading the whole reply: each
socket operation waits at most the time left, so a server that drips a byte a second cannot hold
a caller past it. Replies longer than a cap are not read (``TooLarge``).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import select
import socket
import threading
import time
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection as _U3Connection
from urllib3.connection import HTTPSConnection as _U3SConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from airflow_provider_hbsms.protocol.errors import excerpt

#: Replies are read up to this many bytes by default: a pull of 100 reports is about 30 KB.
DEFAULT_MAX_REPLY_BYTES = 1 << 20


class NotSent(Exception):
    """The request could not leave."""


class MaybeSent(Exception):
    """The request may have reached the server."""


class TooLarge(MaybeSent):
    """The reply is longer than the cap; ``head`` holds what was read (at most the cap).

    :param message: what was refused.
    :param head: the first bytes of the reply.
    """

    def __init__(self, message: str, head: bytes = b"") -> None:
        super().__init__(message)
        self.head = head


class DeadlineExceeded(TimeoutError):
    """The request's overall deadline passed."""


def describe(exc: BaseException) -> str:
    """An exception's class and a redacted excerpt of its message."""
    return f"{type(exc).__name__}: {excerpt(str(exc), 200)}"


class _DeadlineRaw(io.RawIOBase):
    """A socket's reading side whose every read waits at most the time left to the deadline.

    It reads through the socket's own ``SocketIO``, which keeps the socket open while the reply
    is read even after ``HTTPConnection`` let go of it (``Connection: close``).
    """

    def __init__(self, sock: socket.socket, connection: _DeadlineConnection) -> None:
        super().__init__()
        self._sock = sock
        self._io = sock.makefile("rb", buffering=0)
        self._connection = connection

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        self._sock.settimeout(self._connection.time_left())
        return self._io.readinto(buffer)

    def close(self) -> None:
        self._io.close()
        super().close()


class _DeadlineSocket:
    """What ``HTTPResponse`` needs of a socket: ``makefile`` with the deadline applied."""

    def __init__(self, sock: socket.socket, connection: _DeadlineConnection) -> None:
        self._sock = sock
        self._connection = connection

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineRaw(self._sock, self._connection))


class _DeadlineConnection(http.client.HTTPConnection):
    """An ``HTTPConnection`` whose socket operations all end by ``deadline``."""

    deadline = 0.0
    read_timeout: float | None = None

    def time_left(self) -> float:
        """Seconds a socket operation may wait: the read timeout, cut to the deadline."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded("the request's deadline passed")
        return left if self.read_timeout is None else min(left, self.read_timeout)

    def response_class(self, sock: Any, *args: Any, **kwargs: Any) -> http.client.HTTPResponse:  # type: ignore[override]
        return http.client.HTTPResponse(_DeadlineSocket(sock, self), *args, **kwargs)  # type: ignore[arg-type]


def read_capped(response: http.client.HTTPResponse, cap: int) -> bytes:
    """The reply body, refused (``TooLarge``) past ``cap`` bytes."""
    declared = response.length  # from Content-Length; None when chunked or read to the close
    if declared is not None:
        if declared > cap:  # keep the head: for a pull, what was handed over, as a dead letter
            raise TooLarge(
                f"reply of {declared} bytes refused (the cap is {cap})", response.read(cap)
            )
        return response.read()
    data = response.read(cap + 1)
    if len(data) > cap:
        raise TooLarge(f"reply over {cap} bytes refused", data[:cap])
    return data


def _closed_by_peer(sock: socket.socket) -> bool:
    """The server closed (or wrote to) an idle connection: it is not fit for a request."""
    if not hasattr(select, "poll"):  # platforms without poll(); select() suffices for one fd
        readable, _, broken = select.select([sock], [], [sock], 0)
        return bool(readable or broken)
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(0))


class PlainConnections:
    """A thread-safe pool of keep-alive HTTP/1.1 connections to one host.

    :param host: the server's host.
    :param port: its port.
    :param connect_timeout: seconds to establish a connection.
    :param read_timeout: seconds to wait for each read of the reply.
    :param size: idle connections kept for reuse.
    :param deadline: seconds for a whole request (connect, send, the whole reply); default
        ``connect_timeout + read_timeout``.
    :param max_reply_bytes: longest reply read.
    """

    def __init__(
        self,
        host: str,
        port: int,
        connect_timeout: float,
        read_timeout: float,
        size: int,
        deadline: float | None = None,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    ) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.size = size
        self.deadline = deadline if deadline is not None else connect_timeout + read_timeout
        self.max_reply_bytes = max_reply_bytes
        self._idle: list[_DeadlineConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        """POST ``body``; the status, reason and reply body.

        :raises NotSent: the connection could not be established.
        :raises MaybeSent: the request failed after it may have left (``TooLarge``: the reply
            was over the cap).
        """
        deadline = time.monotonic() + self.deadline
        connection = self._take(deadline)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            data = read_capped(response, self.max_reply_bytes)
        except TooLarge:
            connection.close()
            raise
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise MaybeSent(describe(exc)) from None
        if response.will_close:
            connection.close()
        else:
            self._give_back(connection)
        return response.status, response.reason or "", data

    def _take(self, deadline: float) -> Any:
        with self._lock:
            while self._idle:
                connection = self._idle.pop()
                if connection.sock is not None and not _closed_by_peer(connection.sock):
                    connection.deadline = deadline
                    connection.sock.settimeout(connection.time_left())  # sendall: its total
                    return connection
                connection.close()
        timeout = min(self.connect_timeout, deadline - time.monotonic())
        connection = _DeadlineConnection(self.host, self.port, max(timeout, 0.001))
        connection.deadline = deadline
        connection.read_timeout = self.read_timeout
        try:
            connection.connect()
        except OSError as exc:  # refused, unreachable, DNS, connect timeout
            connection.close()
            raise NotSent(describe(exc)) from None
        connection.sock.settimeout(connection.time_left())  # sendall: its total
        return connection

    def _give_back(self, connection: _DeadlineConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self.size:
                self._idle.append(connection)
                return
        connection.close()

    def close(self) -> None:
        """Close the idle connections (those in use close when their request ends)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


# ---------------------------------------------------------------- the requests path (TLS, proxies)


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
