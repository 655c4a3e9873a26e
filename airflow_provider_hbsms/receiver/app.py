"""The push receiver as an ASGI app (FastAPI): store durably, then answer ``0``.

The gateway re-pushes a body (3 times, 2 s apart) when it does not get ``0`` within 20 s, so
the receiver answers ``0`` only after the store's transaction committed, and stores
idempotently so re-pushes are harmless. Anything it cannot accept (too large, not XML, DTDs or
entities, wrong shape) gets a non-``0`` answer and the receiver keeps serving.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from airflow_provider_hbsms.protocol.endpoints import MAX_REPLIES_PER_BODY, MAX_REPORTS_PER_BODY
from airflow_provider_hbsms.protocol.xmlcodec import (
    MalformedXmlError,
    UnsafeXmlError,
    parse_replies,
    parse_reports,
)
from airflow_provider_hbsms.store.replies import DEFAULT_OPT_OUT_KEYWORDS

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_hbsms.store import Store

log = logging.getLogger(__name__)

ACCEPTED, REFUSED = "0", "9"
DEFAULT_MAX_BODY = 1024 * 1024


@dataclass
class ReceiverSettings:
    """How the receiver runs.

    :param token: the secret path segment the gateway's URL must carry; empty refuses all.
    :param store_factory: returns the store to write to (called once, lazily).
    :param allowed_ips: IPs or networks allowed to push; empty allows any.
    :param max_body: largest body accepted, in bytes.
    :param opt_out_keywords: replies that put their sender on the opt-out list.
    :param trust_forwarded_for: take the client IP from ``X-Forwarded-For`` (behind a proxy).
    """

    token: str
    store_factory: Callable[[], Store]
    allowed_ips: list[str] = field(default_factory=list)
    max_body: int = DEFAULT_MAX_BODY
    opt_out_keywords: frozenset[str] = DEFAULT_OPT_OUT_KEYWORDS
    trust_forwarded_for: bool = False


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def create_app(settings: ReceiverSettings) -> FastAPI:
    """The receiver app: ``POST /{token}/reports``, ``POST /{token}/replies``, ``GET /health``.

    Mounted under a prefix (``/hbsms`` by the plugin and the standalone server), the gateway's
    URLs are ``https://host/hbsms/<token>/reports`` and ``.../replies``.
    """
    app = FastAPI(title="HB SMS push receiver", docs_url=None, redoc_url=None, openapi_url=None)
    networks = [
        ipaddress.ip_network(n.strip(), strict=False) for n in settings.allowed_ips if n.strip()
    ]
    state: dict[str, Store] = {}
    # SQLite takes one writer at a time and makes the others sleep-and-retry (with growing
    # sleeps): queueing writers on a lock here is much faster and keeps latency even.
    write_lock = threading.Lock()

    def store() -> Store:
        if "store" not in state:
            state["store"] = settings.store_factory()
        return state["store"]

    def client_ip(request: Request) -> str:
        if settings.trust_forwarded_for and request.headers.get("x-forwarded-for"):
            return request.headers["x-forwarded-for"].split(",")[0].strip()
        return request.client.host if request.client else ""

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_body:
            raise _Refused(413, f"body of {declared} bytes over the limit")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_body:
                raise _Refused(413, "body over the limit")
            chunks.append(chunk)
        return b"".join(chunks)

    def check_caller(token: str, request: Request) -> None:
        if not settings.token or not hmac.compare_digest(token.encode(), settings.token.encode()):
            raise _Refused(404, "unknown path")
        if networks:
            try:
                address = ipaddress.ip_address(client_ip(request))
            except ValueError:
                raise _Refused(403, "caller address unreadable") from None
            if not any(address in n for n in networks):
                raise _Refused(403, f"caller {address} not allowed")

    def ingest(kind: str, body: bytes) -> int:
        """Parse and commit; the count of new items. Raises _Refused for bodies to refuse."""
        try:
            if kind == "reports":
                items = parse_reports(body)
                limit = MAX_REPORTS_PER_BODY
            else:
                items = parse_replies(body)
                limit = MAX_REPLIES_PER_BODY
        except UnsafeXmlError as exc:
            # Kept unparsed (never expanded), like any body that cannot be read.
            store().keep_dead_letter(kind, "push", body, f"unsafe XML: {exc}")
            raise _Refused(400, f"unsafe XML: {exc}") from None
        except MalformedXmlError as exc:
            store().keep_dead_letter(kind, "push", body, str(exc))
            raise _Refused(400, f"malformed: {exc}") from None
        if len(items) > limit:
            log.warning(
                "push of %d %s (the protocol says at most %d): stored", len(items), kind, limit
            )
        target = store()
        serialize = target.engine.dialect.name == "sqlite"
        with write_lock if serialize else contextlib.nullcontext():
            if kind == "reports":
                return target.reports.add(items, source="push")
            keywords = settings.opt_out_keywords
            return target.replies.add(items, source="push", opt_out_keywords=keywords).new

    async def receive(kind: str, token: str, request: Request) -> PlainTextResponse:
        try:
            check_caller(token, request)
            body = await read_body(request)
            new = await run_in_threadpool(ingest, kind, body)
        except _Refused as exc:
            log.warning("push to %s refused (%d): %s", kind, exc.status, exc)
            return PlainTextResponse(REFUSED, status_code=exc.status)
        except Exception:
            # The store failed: answer non-0 so the gateway pushes again.
            log.exception("push to %s could not be stored", kind)
            return PlainTextResponse(REFUSED, status_code=503)
        log.debug("push to %s stored (%d new)", kind, new)
        return PlainTextResponse(ACCEPTED)

    @app.post("/{token}/reports")
    async def reports(token: str, request: Request) -> PlainTextResponse:
        return await receive("reports", token, request)

    @app.post("/{token}/replies")
    async def replies(token: str, request: Request) -> PlainTextResponse:
        return await receive("replies", token, request)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def mounted(app: FastAPI, prefix: str = "/hbsms") -> FastAPI:
    """``app`` under ``prefix``, as the standalone server serves it."""
    root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    root.mount(prefix, app)
    return root
