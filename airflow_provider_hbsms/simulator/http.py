"""A small asyncio HTTP/1.1 server: keep-alive, Content-Length bodies, nothing more.

The gateway side must outrun the clients it is benchmarked with (thousands of requests a
second), which rules out ``http.server`` and a full ASGI stack.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    #: (method, path, headers, body, client ip) -> (status, content type, body) or None to
    #: close the connection without replying.
    Handler = Callable[
        [str, str, dict[str, str], bytes, str], Awaitable[tuple[int, str, bytes] | None]
    ]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    411: "Length Required",
    500: "Internal Server Error",
}
MAX_BODY = 16 * 1024 * 1024


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[str, str, str, dict[str, str], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ", 2)
    except ValueError:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return method, target, version, headers, b"\x00chunked"
    length = int(headers.get("content-length") or 0)
    if length > MAX_BODY:
        return None
    if length and headers.get("expect", "").lower() == "100-continue":
        # curl asks before sending bodies over 1 KiB; without this it stalls for a second.
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await reader.readexactly(length) if length else b""
    return method, target, version, headers, body


def _response(status: int, content_type: str, body: bytes, keep_alive: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode("latin-1") + body


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler
) -> None:
    """Serve requests on one connection until the client or the handler closes it."""
    peer = writer.get_extra_info("peername")
    client_ip = peer[0] if peer else "127.0.0.1"
    try:
        while True:
            try:
                request = await _read_request(reader, writer)
            except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                return
            if request is None:
                return
            method, target, version, headers, body = request
            if body == b"\x00chunked":
                writer.write(_response(411, "text/plain", b"", keep_alive=False))
                await writer.drain()
                return
            keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
            result = await handler(method, target, headers, body, client_ip)
            if result is None:  # a fault: drop the connection without a reply
                return
            status, content_type, payload = result
            writer.write(_response(status, content_type, payload, keep_alive))
            await writer.drain()
            if not keep_alive:
                return
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
