"""GatewaySimulator: the simulated gateway served over HTTP on loopback, in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from airflow_provider_hbsms.protocol.endpoints import WIRE_ENCODING
from airflow_provider_hbsms.simulator.config import SimulatorConfig
from airflow_provider_hbsms.simulator.faults import (
    BAD_ITEM_TARGETS,
    Fault,
    FaultPlan,
    mix_bad_items,
)
from airflow_provider_hbsms.simulator.gateway import Gateway
from airflow_provider_hbsms.simulator.http import serve_connection
from airflow_provider_hbsms.simulator.pusher import PushAttempt, Pusher

if TYPE_CHECKING:
    from airflow_provider_hbsms.protocol.models import Reply, Report
    from airflow_provider_hbsms.simulator.accounts import ReceivedMessage

_TEXT = f"text/plain;charset={WIRE_ENCODING}"
_JSON = "application/json"
_GARBAGE = "<html><body>502 Bad Gateway</body></html>"


class GatewaySimulator:
    """A faithful stand-in for the HB SMS gateway, for tests, demos and benchmarks.

    :param config: accounts and behaviour; the default has one account ``test`` / ``secret``
        with service ``svc``.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.gateway = Gateway(self.config)
        self.faults = FaultPlan()
        self.pusher = Pusher(self.gateway, self.config, self.faults)
        self.latency_ms = self.config.latency_ms
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = self.config.port

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` once started."""
        return f"http://{self.config.host}:{self.port}"

    def start(self) -> GatewaySimulator:
        """Bind and serve in a background thread; returns when it accepts connections."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(
                        self._on_connection, self.config.host, self.config.port, backlog=512
                    )
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # report bind errors to the caller
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="hbsms-simulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        self.pusher.start()
        return self

    async def _shutdown(self) -> None:
        """Close the listener and every open connection (their tasks are cancelled)."""
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        """Stop serving and pushing."""
        self.pusher.stop()
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop = None

    def __enter__(self) -> GatewaySimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ Python API

    def received(self) -> list[ReceivedMessage]:
        """Every message accepted so far, in order."""
        with self.gateway.lock:
            return list(self.gateway.received)

    def inject_reply(self, mobile: str, content: str, ext: str = "", corp_id: str = "") -> Reply:
        """An inbound message (MO) from ``mobile``, for the next pull or push."""
        return self.gateway.inject_reply(mobile, content, ext, corp_id)

    def inject_fault(
        self,
        kind: str,
        endpoint: str | None = None,
        after: int = 0,
        count: int | None = 1,
        **params: Any,
    ) -> Fault:
        """Make the next matching requests fail; see ``faults.FAULT_KINDS``."""
        return self.faults.add(Fault(kind, endpoint, after, count, params))

    def clear_faults(self) -> None:
        self.faults.clear()

    def flush_reports(self) -> None:
        """Make every pending delivery report due now."""
        self.gateway.flush_reports()

    def queue_reports(self, reports: list[Report], corp_id: str = "") -> None:
        """Put ready-made reports in an account's pull queue."""
        corp_id = corp_id or self.config.accounts[0].corp_id
        self.gateway.queue_reports(corp_id, reports)

    def update_account(self, corp_id: str, **changes: Any) -> None:
        """Change an account: balance, closed, allowed_ips, pull_enabled, push URLs, ..."""
        self.gateway.update_account(corp_id, **changes)

    def balance(self, corp_id: str = "") -> str:
        corp_id = corp_id or self.config.accounts[0].corp_id
        with self.gateway.lock:
            return str(self.gateway.accounts[corp_id].balance)

    def push_log(self) -> list[PushAttempt]:
        """Every push attempt so far."""
        return list(self.pusher.log)

    def stats(self) -> dict[str, Any]:
        return self.gateway.stats()

    def reset(self) -> None:
        """Forget everything received, waiting or injected."""
        self.faults.clear()
        self.gateway.reset()
        self.pusher.log.clear()

    # ------------------------------------------------------------------ HTTP

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # Finish quietly when cancelled at shutdown (Python 3.11's stream callback re-raises a
        # cancelled connection task's CancelledError into the loop's error log) or when the
        # client hangs up while we write.
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await serve_connection(reader, writer, self._handle)

    async def _handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, client_ip: str
    ) -> tuple[int, str, bytes] | None:
        path = target.split("?", 1)[0]
        if path.startswith("/_admin/"):
            return self._admin(method, path, body)
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        fault = self.faults.strike(path)
        if fault is not None:
            if fault.kind == "latency":
                await asyncio.sleep(float(fault.params.get("seconds", 1.0)))
            elif fault.kind == "close_before_processing":
                return None
            elif fault.kind == "http_500":
                return 500, "text/html", b"<html>Internal Server Error</html>"
        reply = self.gateway.handle(method, target, body, client_ip)
        if fault is not None and fault.kind == "bad_items" and reply.startswith(("<", "0")):
            kind = BAD_ITEM_TARGETS[path]
            good = reply.encode(WIRE_ENCODING) if reply.startswith("<") else None
            served = mix_bad_items(kind, good, fault.params)
            declared = str(fault.params.get("declare", "GBK"))
            return 200, f"text/xml;charset={declared}", served
        if fault is not None and fault.kind == "close_after_processing":
            return None
        if fault is not None and fault.kind == "malformed_reply":
            reply = _GARBAGE
        return 200, _TEXT, reply.encode(WIRE_ENCODING)

    def _admin(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        try:
            payload = json.loads(body) if body else {}
            result = self._admin_call(method, path.removeprefix("/_admin/"), payload)
        except (KeyError, TypeError, ValueError) as exc:
            return 400, _JSON, json.dumps({"error": str(exc)}).encode()
        if result is None:
            return 404, _JSON, b'{"error": "no such admin call"}'
        return 200, _JSON, json.dumps(result, default=str).encode()

    def _admin_call(self, method: str, name: str, payload: dict[str, Any]) -> Any:
        if method == "GET":
            views: dict[str, Any] = {
                "messages": lambda: [asdict(m) for m in self.received()],
                "stats": self.stats,
                "push_log": lambda: [asdict(a) for a in self.push_log()],
                "faults": self.faults.describe,
            }
            view = views.get(name)
            return view() if view else None
        if name == "replies":
            reply = self.inject_reply(**payload)
            return {"mobile": reply.mobile, "time": str(reply.time)}
        if name == "faults":
            # Kind parameters may come flat ({"seconds": 1}) or nested ({"params": {...}}).
            nested = payload.pop("params", None) or {}
            fault = self.inject_fault(**payload, **nested)
            return {"kind": fault.kind}
        if name == "clear_faults":
            self.clear_faults()
            return {}
        if name == "flush_reports":
            self.flush_reports()
            return {}
        if name == "reset":
            self.reset()
            return {}
        if name == "backlog":
            self.queue_reports(_backlog(int(payload["count"])), payload.get("corp_id", ""))
            return {"queued": int(payload["count"])}
        if name == "latency":
            self.latency_ms = float(payload["ms"])
            return {"latency_ms": self.latency_ms}
        if name.startswith("accounts/"):
            self.update_account(name.removeprefix("accounts/"), **payload)
            return {}
        return None


def _backlog(count: int) -> list[Report]:
    """``count`` delivered reports waiting to be pulled (for drain benchmarks and tests)."""
    from airflow_provider_hbsms.protocol.models import Report

    return [Report(f"138{i:08d}", f"backlog-{i}", 0, "0", "", None) for i in range(count)]


__all__ = ["GatewaySimulator", "SimulatorConfig"]
