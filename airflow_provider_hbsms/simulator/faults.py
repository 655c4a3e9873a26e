"""Faults the simulator can inject into its gateway endpoints."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

#: What each fault kind does.
FAULT_KINDS = {
    "latency": "wait `seconds` before processing",
    "close_before_processing": "close the connection without processing or replying",
    "close_after_processing": "process the request fully, then close without replying",
    "http_500": "reply HTTP 500 without processing",
    "malformed_reply": "process the request, then reply with text of no documented form",
}


@dataclass
class Fault:
    """One injected fault.

    :param kind: one of ``FAULT_KINDS``.
    :param endpoint: the path it applies to (None: every gateway endpoint).
    :param after: matching requests let through before it strikes.
    :param count: requests it strikes (None: all from then on).
    :param params: kind parameters (``seconds`` for latency).
    """

    kind: str
    endpoint: str | None = None
    after: int = 0
    count: int | None = 1
    params: dict[str, Any] = field(default_factory=dict)
    seen: int = 0
    struck: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {sorted(FAULT_KINDS)}")

    @property
    def spent(self) -> bool:
        return self.count is not None and self.struck >= self.count


class FaultPlan:
    """The active faults, consulted once per gateway request."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def strike(self, path: str) -> Fault | None:
        """The fault that hits this request, if any (counting it).

        Every matching fault counts the request towards its ``after``, even when an earlier
        fault is the one that strikes: ``after`` is "requests since the fault was injected".
        """
        hit: Fault | None = None
        with self._lock:
            for fault in self._faults:
                if fault.spent or (fault.endpoint and fault.endpoint != path):
                    continue
                fault.seen += 1
                if hit is None and fault.seen > fault.after:
                    hit = fault
            if hit is not None:
                hit.struck += 1
        return hit

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "kind": f.kind,
                    "endpoint": f.endpoint,
                    "after": f.after,
                    "count": f.count,
                    "struck": f.struck,
                    "params": f.params,
                }
                for f in self._faults
            ]
