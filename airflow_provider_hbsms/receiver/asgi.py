"""The push endpoints as a bare ASGI app: a push is a few kilobytes in and one byte out, and a
web framework's routing, dependency solving and response classes cost as much CPU as parsing
and storing the body. ``POST {prefix}/<token>/reports``, ``POST {prefix}/<token>/replies``,
``GET {prefix}/health``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_hbsms.receiver.access import AccessPolicy, RefusalLog
from airflow_provider_hbsms.receiver.intake import ACCEPTED, KINDS, REFUSED, PushIntake, Refused
from airflow_provider_hbsms.receiver.writer import PushWriter

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    #: An ASGI scope or message.
    Scope = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Scope]]
    Send = Callable[[Scope], Awaitable[None]]

log = logging.getLogger(__name__)

_HEALTHY = b'{"status":"ok"}'


class PushApp:
    """ASGI app over a ``PushIntake``.

    :param intake: checks callers and stores bodies.
    :param prefix: the path the endpoints live under (``/hbsms`` standalone; empty when a
        framework mounts the app and passes the rest of the path).
    """

    def __init__(self, intake: PushIntake, prefix: str = "") -> None:
        self.intake = intake
        self.writer = PushWriter(intake)
        self.prefix = prefix.rstrip("/")
        settings = intake.settings
        self.access = AccessPolicy(settings.token, settings.allowed_ips, settings.trusted_proxies)
        self.refusals = RefusalLog(log)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = _route_path(scope)
        if not path.startswith(self.prefix + "/"):
            await _answer(send, 404, REFUSED.encode())
            return
        parts = path[len(self.prefix) + 1 :].split("/")
        method = scope["method"]
        if parts == ["health"]:
            if method in ("GET", "HEAD"):
                await _answer(send, 200, _HEALTHY, b"application/json")
            else:
                await _answer(send, 405, REFUSED.encode())
            return
        if len(parts) != 2 or parts[1] not in KINDS:
            await _answer(send, 404, REFUSED.encode())
            return
        if method != "POST":
            await _answer(send, 405, REFUSED.encode())
            return
        status, text = await self._push(parts[1], parts[0], scope, receive)
        # A body left unread (too large, too slow) must not be taken for the next request.
        await _answer(send, status, text.encode(), close=status in (408, 413))

    async def _push(self, kind: str, token: str, scope: Scope, receive: Receive) -> tuple[int, str]:
        # The gateway gives up on an answer after 20 s: every push is answered within
        # ``answer_within`` of its arrival, committed (0) or not (non-0), whatever holds the
        # database; the event loop itself never waits for it, so /health always answers.
        deadline = time.monotonic() + self.intake.settings.answer_within
        try:
            self.access.check_scope(token, scope)
            body = await self._body(scope, receive)
            if kind == "replies":
                await asyncio.wait_for(
                    asyncio.to_thread(self.intake.index_backlog, deadline),
                    max(deadline - time.monotonic(), 0.001),
                )
            await self.writer.store(kind, body, deadline)
        except Refused as exc:
            # Rate-limited: unauthenticated callers could otherwise flood the log.
            self.refusals.refused(
                str(exc.status), "push to %s refused (%d): %s", kind, exc.status, exc
            )
            return exc.status, REFUSED
        except TimeoutError:
            # The thread may still commit it: the gateway's re-push is then stored once.
            log.warning(
                "push to %s not stored within %.0f s", kind, self.intake.settings.answer_within
            )
            return 503, REFUSED
        except Exception:
            # The store failed: answer non-0 so the gateway pushes again.
            log.exception("push to %s could not be stored", kind)
            return 503, REFUSED
        return 200, ACCEPTED

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.intake.settings.max_body
        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise Refused(413, f"body of {declared} bytes over the limit")
        chunks, size = [], 0
        try:
            # One deadline for the whole body: a caller dripping bytes cannot hold a request.
            async with asyncio.timeout(self.intake.settings.limits.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise Refused(400, "the caller went away")
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        raise Refused(413, "body over the limit")
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise Refused(408, "body not received in time") from None


def _route_path(scope: Scope) -> str:
    """The path below any mount point (frameworks keep the full path and a ``root_path``)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


async def _answer(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = b"text/plain",
    close: bool = False,
) -> None:
    headers = [
        (b"content-type", content_type + b"; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
