"""Misbehaving gateways (and proxies) on loopback, for what the simulator will not do: drip a
reply, close mid-body, send without end, echo the request back.

``RawGateway(handler)`` accepts connections on 127.0.0.1 and calls ``handler(conn, request)``
with each request read whole (request line, headers, body), in a thread per connection.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def body_of(request: bytes) -> bytes:
    """The body of a request read by ``RawGateway``."""
    return request.partition(b"\r\n\r\n")[2]


class RawGateway:
    """A loopback server whose every request is answered by ``handler``.

    :param handler: ``handler(conn, request)``; the connection is closed when it returns.
    """

    def __init__(self, handler: Callable[[socket.socket, bytes], None]) -> None:
        self.handler = handler
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.requests: list[bytes] = []
        self._connections: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self._connections.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            request = _read_request(conn)
            self.requests.append(request)
            self.handler(conn, request)

    def stop(self) -> None:
        self._stopped.set()
        self.server.close()
        for conn in self._connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)
        self._acceptor.join(timeout=5)

    def __enter__(self) -> RawGateway:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def reply(body: bytes, status: str = "200 OK", extra: str = "") -> bytes:
    """A whole HTTP/1.1 reply."""
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
    return head.encode() + body


def dripping(payload: bytes, every: float = 0.5) -> Callable[[socket.socket, bytes], None]:
    """Send ``payload`` one byte every ``every`` seconds."""

    def handle(conn: socket.socket, _request: bytes) -> None:
        for byte in payload:
            conn.sendall(bytes([byte]))
            time.sleep(every)

    return handle


def closing_mid_body(
    declared: int = 100, sent: bytes = b"0#"
) -> Callable[[socket.socket, bytes], None]:
    """Announce ``declared`` bytes, send ``sent``, close."""

    def handle(conn: socket.socket, _request: bytes) -> None:
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n\r\n".encode() + sent)

    return handle


def endless(declared: int | None) -> Callable[[socket.socket, bytes], None]:
    """A reply of ``declared`` bytes (None: chunked, without end), streamed until the client
    goes away."""

    def handle(conn: socket.socket, _request: bytes) -> None:
        block = b"<reports>" + b"x" * 65527
        if declared is None:
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
            while True:
                conn.sendall(chunk)
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n\r\n".encode())
        left = declared
        while left > 0:
            conn.sendall(block[:left])
            left -= len(block)

    return handle


def answering(body: bytes | Callable[[bytes], bytes]) -> Callable[[socket.socket, bytes], None]:
    """Answer every request with ``body`` (or ``body(request)``), HTTP 200."""

    def handle(conn: socket.socket, request: bytes) -> None:
        conn.sendall(reply(body(request) if callable(body) else body))

    return handle
