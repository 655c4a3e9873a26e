"""The seam between the client and the wire: one POST, its outcome classified exactly.

A ``Transport`` posts a body and returns the status, reason phrase and reply body, or says
how it failed: ``NotSent`` (no byte of the request left: any retry is safe) or ``MaybeSent``
(it may have reached the server; ``TooLarge``: the reply was over the cap). The client turns
these into the package's typed errors by endpoint, and owns retry, deadline settings and
pacing; a transport never retries. Two implementations: ``PlainTransport`` (``http.client``,
plain HTTP without a proxy, the hot path) and ``RequestsTransport`` (TLS, proxies); the test
kit has ``MockTransport``.

These three exceptions are the transport's contract with the client and never reach a caller
of the client.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from airflow_provider_hbsms.exceptions import excerpt

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

#: Replies are read up to this many bytes by default: a pull of 100 reports is about 30 KB.
DEFAULT_MAX_REPLY_BYTES = 1 << 20


@dataclass(frozen=True)
class TransportLimits:
    """How long a transport waits and how much it keeps, the same for every transport.

    :param connect_timeout: seconds to establish a connection.
    :param read_timeout: seconds to wait for each read of the reply.
    :param deadline: seconds for a whole request (connect, send, the whole reply).
    :param max_reply_bytes: longest reply read.
    :param pool_size: connections kept for reuse by concurrent callers.
    :param max_connection_age: seconds after which the pool is replaced (a DNS change shows).
    :param idle_timeout: seconds of idleness after which a send gets new connections.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    deadline: float = 40.0
    max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES
    pool_size: int = 4
    max_connection_age: float = 300.0
    idle_timeout: float = 4.0


class NotSent(Exception):
    """The request could not leave: nothing reached the server."""


class MaybeSent(Exception):
    """The request may have reached the server."""


class TooLarge(MaybeSent):
    """The reply is longer than the cap; ``head`` holds what was read (at most the cap).

    :param message: what was refused.
    :param head: the first bytes of the reply.
    """

    def __init__(self, message: str, head: bytes = b"") -> None:
        super().__init__(message)
        self.head = head


def positive_seconds(name: str, value: object) -> float:
    """``value`` as a finite number of seconds above 0, or a ``ValueError`` naming ``name``.

    :param name: the setting, for the message.
    :param value: what was given (a number or a numeric string).
    """
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{name} must be more than 0 seconds, got {value!r}")
    return seconds


def describe(exc: BaseException) -> str:
    """An exception's class and a redacted excerpt of its message."""
    return f"{type(exc).__name__}: {excerpt(str(exc), 200)}"


class Transport(Protocol):
    """What the client needs of the wire."""

    def post(
        self, path: str, body: bytes, headers: Mapping[str, str], *, idempotent: bool = True
    ) -> tuple[int, str, bytes]:
        """POST ``body`` to ``path`` (below the base URL); the status, reason and reply body.

        :param path: the endpoint's path.
        :param body: the form body.
        :param headers: the request's headers (the same mapping on every call).
        :param idempotent: False for a request that must not be repeated (a send): it is not
            posted over a connection idle for longer than the idle timeout.
        :raises NotSent: nothing left.
        :raises MaybeSent: it may have reached the server (``TooLarge``: over the reply cap).
        """
        ...

    def close(self) -> None:
        """Close the pooled connections."""
        ...


class _Closable(Protocol):
    def close(self) -> None: ...


PoolT = TypeVar("PoolT", bound=_Closable)


class Recycled(Generic[PoolT]):
    """A connection pool replaced by a new one when it is older than ``max_age`` (so that a
    change of the gateway's DNS reaches us) or, before a request that must not be repeated,
    when it was idle longer than ``idle_timeout`` (a connection the server dropped while idle
    would make a send's outcome look unknown). Replaced only while no request uses it.

    :param make: makes a new pool.
    :param max_age: seconds a pool is kept.
    :param idle_timeout: seconds of idleness after which a non-repeatable request gets a new
        pool.
    """

    def __init__(self, make: Callable[[], PoolT], max_age: float, idle_timeout: float) -> None:
        self._make = make
        self.max_age = max_age
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._in_flight = 0
        self.pool = make()
        self.born = self._last_used = time.monotonic()

    def checkout(self, idempotent: bool) -> PoolT:
        """The pool for one request (renewed first if due); pair with ``checkin``."""
        with self._lock:
            now = time.monotonic()
            expired = now - self.born > self.max_age
            idle = not idempotent and now - self._last_used > self.idle_timeout
            if (expired or idle) and self._in_flight == 0:
                self.pool.close()
                self.pool = self._make()
                self.born = now
            self._in_flight += 1
            return self.pool

    def checkin(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._last_used = time.monotonic()

    def close(self) -> None:
        self.pool.close()
