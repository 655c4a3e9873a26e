"""``PlainTransport``: keep-alive plain-HTTP connections straight over ``http.client``, the
client's hot path (about half the CPU of a request through requests' adapter).

A send is a single POST whose outcome must be classified exactly: a failure before any byte
left is ``NotSent``; any failure after is ``MaybeSent``. Connections are reused only if the
server has not closed them meanwhile (checked without blocking before each request), so an idle
connection the gateway dropped never turns a send into an unknown outcome. Plain HTTP without a
proxy is what this module serves; TLS and proxies go through ``RequestsTransport``.

Every request has one deadline for connecting, sending and reading the whole reply: each
socket operation waits at most the time left, so a server that drips a byte a second cannot hold
a caller past it. Replies longer than a cap are not read (``TooLarge``).
"""

from __future__ import annotations

import http.client
import io
import select
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_hbsms.transport import (
    DEFAULT_MAX_REPLY_BYTES,
    MaybeSent,
    NotSent,
    Recycled,
    TooLarge,
    TransportLimits,
    describe,
)

if TYPE_CHECKING:
    import socket
    from collections.abc import Mapping


class DeadlineExceeded(TimeoutError):
    """The request's overall deadline passed."""


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

    def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, str, bytes]:
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


class PlainTransport:
    """The ``Transport`` for plain HTTP without a proxy: a ``PlainConnections`` pool to the base
    URL's host, recycled by age and, before sends, by idleness.

    :param base_url: scheme ``http``, host, port and an optional path prefix (a reverse proxy's).
    :param limits: timeouts, deadline, reply cap and pool settings.
    """

    def __init__(self, base_url: str, limits: TransportLimits | None = None) -> None:
        limits = limits or TransportLimits()
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"PlainTransport serves http://host URLs only, got {base_url!r}")
        self._prefix = parts.path.rstrip("/")  # a reverse proxy's prefix, if any
        host, port = parts.hostname, parts.port or 80

        def connections() -> PlainConnections:
            return PlainConnections(
                host,
                port,
                limits.connect_timeout,
                limits.read_timeout,
                limits.pool_size,
                deadline=limits.deadline,
                max_reply_bytes=limits.max_reply_bytes,
            )

        self.pools = Recycled(connections, limits.max_connection_age, limits.idle_timeout)

    def post(
        self, path: str, body: bytes, headers: Mapping[str, str], *, idempotent: bool = True
    ) -> tuple[int, str, bytes]:
        """POST ``body`` to ``path``; see ``Transport.post``."""
        pool = self.pools.checkout(idempotent)
        try:
            return pool.post(self._prefix + path, body, headers)
        finally:
            self.pools.checkin()

    def close(self) -> None:
        """Close the idle connections (those in use close when their request ends)."""
        self.pools.close()
