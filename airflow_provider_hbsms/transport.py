"""Keep-alive plain-HTTP connections straight over ``http.client``: the client's hot path.

A send is a single POST whose outcome must be classified exactly: a failure before any byte
left is ``NotSent``; any failure after is ``MaybeSent``. Connections are reused only if the
server has not closed them meanwhile (checked without blocking before each request), so an idle
connection the gateway dropped never turns a send into an unknown outcome. Plain HTTP without a
proxy is what this module serves; TLS and proxies go through ``requests`` in the client.
"""

from __future__ import annotations

import http.client
import select
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import socket


class NotSent(Exception):
    """The request could not leave."""


class MaybeSent(Exception):
    """The request may have reached the server."""


def describe(exc: BaseException) -> str:
    """An exception's class and message, shortened (messages never hold request bodies)."""
    text = str(exc)
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(exc).__name__}: {text}"


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
    """

    def __init__(
        self, host: str, port: int, connect_timeout: float, read_timeout: float, size: int
    ) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.size = size
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        """POST ``body``; the status, reason and reply body.

        :raises NotSent: the connection could not be established.
        :raises MaybeSent: the request failed after it may have left.
        """
        connection = self._take()
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise MaybeSent(describe(exc)) from None
        if response.will_close:
            connection.close()
        else:
            self._give_back(connection)
        return response.status, response.reason or "", data

    def _take(self) -> http.client.HTTPConnection:
        with self._lock:
            while self._idle:
                connection = self._idle.pop()
                if connection.sock is not None and not _closed_by_peer(connection.sock):
                    return connection
                connection.close()
        connection = http.client.HTTPConnection(self.host, self.port, self.connect_timeout)
        try:
            connection.connect()
        except OSError as exc:  # refused, unreachable, DNS, connect timeout
            connection.close()
            raise NotSent(describe(exc)) from None
        assert connection.sock is not None
        connection.sock.settimeout(self.read_timeout)
        return connection

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
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
