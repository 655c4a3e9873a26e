"""The receiver's limits on time and connections: applied to connections by the guarded
uvicorn protocols of ``guard.py`` and the gate of ``gate.py`` (standalone server) and to bodies
by the ASGI app (on the Airflow API server too).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass, field
from typing import Any

#: Descriptors left for the store, logs and listening sockets when the connection cap is
#: derived from the process's descriptor limit.
_RESERVED_DESCRIPTORS = 64


def default_max_connections() -> int:
    """At most 1024 connections, and always fewer than the process may open descriptors."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1024
    return max(min(1024, soft - _RESERVED_DESCRIPTORS), 8)


def limit_type(name: str) -> type[float] | type[int]:
    """The type of a ``ReceiverLimits`` field: seconds are floats, sizes and counts ints."""
    return float if name.endswith("timeout") else int


@dataclass(frozen=True)
class ReceiverLimits:
    """Time and connection limits of the receiver.

    :param header_timeout: seconds a connection may take to send a complete request head.
    :param body_timeout: seconds a request may take to send its whole body.
    :param idle_timeout: seconds a kept-alive connection may sit idle between requests.
    :param max_header_bytes: the largest request head accepted.
    :param max_connections: open connections in all (default: from the descriptor limit).
    :param max_connections_per_address: open connections from one address.
    """

    header_timeout: float = 10.0
    body_timeout: float = 20.0
    idle_timeout: float = 5.0
    max_header_bytes: int = 16 * 1024
    max_connections: int = field(default_factory=default_max_connections)
    max_connections_per_address: int = 32

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "idle_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        for name in ("max_header_bytes", "max_connections", "max_connections_per_address"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    #: Environment variables carrying the limits to every uvicorn worker process.
    ENVIRONMENT = {  # noqa: RUF012 - a constant mapping, not per-instance state
        "header_timeout": "HBSMS_RECEIVER_HEADER_TIMEOUT",
        "body_timeout": "HBSMS_RECEIVER_BODY_TIMEOUT",
        "idle_timeout": "HBSMS_RECEIVER_IDLE_TIMEOUT",
        "max_header_bytes": "HBSMS_RECEIVER_MAX_HEADER_BYTES",
        "max_connections": "HBSMS_RECEIVER_MAX_CONNECTIONS",
        "max_connections_per_address": "HBSMS_RECEIVER_MAX_CONNECTIONS_PER_ADDRESS",
    }

    def to_environment(self) -> dict[str, str]:
        return {var: str(getattr(self, name)) for name, var in self.ENVIRONMENT.items()}

    @classmethod
    def from_environment(cls, env: dict[str, str] | None = None) -> ReceiverLimits:
        env = dict(os.environ) if env is None else env
        given: dict[str, Any] = {}
        for name, var in cls.ENVIRONMENT.items():
            if env.get(var):
                given[name] = limit_type(name)(env[var])
        return cls(**given)
