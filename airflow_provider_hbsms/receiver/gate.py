"""What one caller can hold of the standalone receiver: time, connections, descriptors.

uvicorn closes a connection idle *between* requests (``timeout_keep_alive``), but not one that
never finishes its request head: a socket that sends nothing, or half a request line, would
keep its descriptor for ever, and a few hundred of them exhaust the process's descriptors. The
guard here, mixed into uvicorn's protocol classes (``guard.py``, ``guard_httptools.py``), and
the gate it asks therefore

- close a connection whose request head is not complete ``header_timeout`` seconds after the
  connection opened or its previous response ended, or that grows past ``max_header_bytes``;
- refuse (``503``, closed at once) a connection beyond ``max_connections`` in all or beyond
  ``max_connections_per_address`` from one address (trusted proxies count only in the total).

The body's own deadline (``body_timeout``) is kept by the ASGI app, so it holds on the Airflow
API server too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_hbsms.receiver.access import parse_address, parse_networks
from airflow_provider_hbsms.receiver.limits import ReceiverLimits

if TYPE_CHECKING:
    import asyncio

    from airflow_provider_hbsms.receiver.access import Network


class ConnectionGate:
    """Counts open connections, in all and per address, and admits or refuses new ones.

    :param limits: the caps.
    :param trusted_proxies: addresses exempt from the per-address cap (every caller behind a
        proxy arrives from it).
    """

    def __init__(self, limits: ReceiverLimits, trusted_proxies: list[Network] | None = None):
        self.limits = limits
        self.trusted = trusted_proxies or []
        self.open = 0
        self.per_address: dict[str, int] = {}

    def _key(self, peer: Any) -> str | None:
        host = peer[0] if isinstance(peer, tuple) and peer else None
        if not isinstance(host, str):
            return None  # a Unix socket: no address to count by
        address = parse_address(host)
        if address is None:
            return host
        if any(address in network for network in self.trusted):
            return None
        return str(address)

    def admit(self, peer: Any) -> str | bool | None:
        """The key the connection was counted under (None: counted in the total only), or
        False when it is refused."""
        if self.open >= self.limits.max_connections:
            return False
        key = self._key(peer)
        if key is not None:
            count = self.per_address.get(key, 0)
            if count >= self.limits.max_connections_per_address:
                return False
            self.per_address[key] = count + 1
        self.open += 1
        return key

    def release(self, key: str | None) -> None:
        self.open -= 1
        if key is not None:
            left = self.per_address.get(key, 1) - 1
            if left:
                self.per_address[key] = left
            else:
                self.per_address.pop(key, None)


_gate: ConnectionGate | None = None


def install(limits: ReceiverLimits, trusted_proxies: list[str] | None = None) -> ConnectionGate:
    """Make ``limits`` the ones this process's guarded protocols apply (each worker process
    calls it when it builds the app, before it accepts a connection)."""
    global _gate
    _gate = ConnectionGate(limits, parse_networks(trusted_proxies or [], "trusted proxies"))
    return _gate


def _current_gate() -> ConnectionGate:
    global _gate
    if _gate is None:
        _gate = ConnectionGate(ReceiverLimits())
    return _gate


_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 1\r\nconnection: close\r\n\r\n9"
)
_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8"
    b"\r\ncontent-length: 1\r\nconnection: close\r\n\r\n9"
)


class HeadGuard:
    """The guard, mixed into a uvicorn HTTP protocol class (which provides ``transport``,
    ``loop``, ``cycle`` and the methods called through ``super()``)."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any

    _gate_key: str | bool | None = False
    _head_timer: asyncio.TimerHandle | None = None
    _head_bytes: int = 0

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        gate = _current_gate()
        self._gate = gate
        key = gate.admit(transport.get_extra_info("peername"))
        if key is False:
            transport.write(_BUSY)
            transport.close()
            return
        self._gate_key = key
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        if self._gate_key is not False:
            self._gate.release(self._gate_key)  # type: ignore[arg-type]
            self._gate_key = False
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        waiting = self._head_timer is not None
        super().data_received(data)  # type: ignore[misc]
        if not waiting:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm_head_timer()  # the head is in: the app takes over (body deadline)
            return
        # Still no complete head: count it (a body arriving with its head is not counted).
        self._head_bytes += len(data)
        if self._head_bytes > self._gate.limits.max_header_bytes:
            self._disarm_head_timer()
            if not self.transport.is_closing():
                self.transport.write(_HEAD_TOO_LARGE)
                self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_bytes = 0
        self._head_timer = self.loop.call_later(
            self._gate.limits.header_timeout, self._head_timed_out
        )

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()


__all__ = ["ConnectionGate", "HeadGuard", "install"]
