"""Pushes reports and replies to the customer's URLs with the vendor's retry policy.

Policy (vendor document sections 4.4 and 6.4): wait ``push_timeout`` for the reply; anything
but ``0`` (or no reply) is a failure; re-push the same body up to ``push_retries`` times,
``push_interval`` apart; then give up.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_hbsms.protocol.xmlbuild import build_replies_xml, build_reports_xml
from airflow_provider_hbsms.simulator.faults import mix_bad_items

if TYPE_CHECKING:
    from airflow_provider_hbsms.simulator.config import SimulatorConfig
    from airflow_provider_hbsms.simulator.faults import FaultPlan
    from airflow_provider_hbsms.simulator.gateway import Gateway


@dataclass(frozen=True, slots=True)
class PushAttempt:
    """One push of one body.

    :param kind: ``reports`` or ``replies``.
    :param url: where it went.
    :param items: reports or replies in the body.
    :param attempt: 1 for the first push, 2.. for re-pushes.
    :param outcome: ``ok``, or what went wrong.
    :param at: ``time.time()`` of the attempt.
    """

    kind: str
    url: str
    items: int
    attempt: int
    outcome: str
    at: float


def post_once(url: str, body: bytes, timeout: float) -> str:
    """POST ``body`` to ``url``; ``ok`` if the reply was ``0``, else what went wrong."""
    parts = urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        connection.request("POST", path, body, {"Content-Type": "text/xml;charset=GBK"})
        response = connection.getresponse()
        reply = response.read().decode("gbk", errors="replace").strip()
    except (OSError, http.client.HTTPException) as exc:
        return f"error: {type(exc).__name__}: {exc}"
    finally:
        connection.close()
    if response.status == 200 and reply == "0":
        return "ok"
    return f"reply: HTTP {response.status} {reply[:40]!r}"


class Pusher:
    """A background thread that pushes whatever is due: bodies for one URL in order, one at a
    time (with their re-pushes), different URLs side by side, so one slow receiver does not
    hold up another account's pushes.

    :param gateway: the simulated gateway.
    :param config: push timeout, retries and interval.
    :param faults: injected faults (``bad_items`` on ``push:reports`` / ``push:replies``).
    """

    def __init__(
        self, gateway: Gateway, config: SimulatorConfig, faults: FaultPlan | None = None
    ) -> None:
        self.gateway = gateway
        self.config = config
        self.faults = faults
        self.log: list[PushAttempt] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hbsms-sim-pusher", daemon=True)
        self._lock = threading.Lock()
        # URL -> bodies waiting behind the one being pushed there; a URL is a key while a
        # worker thread serves it.
        self._queues: dict[str, deque[tuple[str, list[Any]]]] = {}
        self._workers: list[threading.Thread] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():  # never started when the server failed to bind
            self._thread.join(timeout=self.config.push_timeout + 5)
        for worker in list(self._workers):
            worker.join(timeout=self.config.push_timeout + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            bodies = self.gateway.take_for_push()
            for kind, url, items in bodies:
                self._enqueue(kind, url, items)
            if not bodies:
                self._stop.wait(0.02)

    def _enqueue(self, kind: str, url: str, items: list[Any]) -> None:
        with self._lock:
            waiting = self._queues.get(url)
            if waiting is not None:
                waiting.append((kind, items))
                return
            self._queues[url] = deque([(kind, items)])
            worker = threading.Thread(
                target=self._serve, args=(url,), name="hbsms-sim-push", daemon=True
            )
            self._workers = [w for w in self._workers if w.is_alive()] + [worker]
        worker.start()

    def _serve(self, url: str) -> None:
        while True:
            with self._lock:
                waiting = self._queues[url]
                if not waiting or self._stop.is_set():
                    del self._queues[url]
                    return
                kind, items = waiting.popleft()
            self._push(kind, url, items)

    def _push(self, kind: str, url: str, items: list[Any]) -> None:
        body = build_reports_xml(items) if kind == "reports" else build_replies_xml(items)
        fault = self.faults.strike(f"push:{kind}") if self.faults is not None else None
        if fault is not None and fault.kind == "bad_items":
            body = mix_bad_items(kind, body, fault.params)
        for attempt in range(1, self.config.push_retries + 2):
            outcome = post_once(url, body, self.config.push_timeout)
            with self._lock:
                self.log.append(PushAttempt(kind, url, len(items), attempt, outcome, time.time()))
            if outcome == "ok" or self._stop.is_set():
                return
            if attempt <= self.config.push_retries:
                self._stop.wait(self.config.push_interval)
