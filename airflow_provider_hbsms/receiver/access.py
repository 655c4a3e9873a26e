"""Who may push: the caller's address (behind trusted proxies only) and the path's token.

The address is checked before the token, and both refusals get the same answer (``404``, as
for any unknown path), so a caller cannot learn from the answer whether a token is right.
Proxy headers count only when the direct peer is one of the proxies the operator named: the
client is then the rightmost ``X-Forwarded-For`` hop that is not a trusted proxy (every hop
left of it was written by someone the operator does not trust).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import threading
import time
from typing import TYPE_CHECKING

from airflow_provider_hbsms.receiver.intake import Refused

if TYPE_CHECKING:
    from collections.abc import Iterable, MutableMapping, Sequence

log = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The one answer to a caller that may not push (wrong token or address alike).
REFUSED_STATUS = 404


class AccessRefused(Refused):
    """A caller that may not push; ``reason`` is for the log and never names the token.

    :param reason: why, for the log.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(REFUSED_STATUS, reason)


def parse_address(text: str) -> Address | None:
    """``text`` as an IP address, IPv4-mapped IPv6 (``::ffff:203.0.113.7``) as IPv4; None if
    it is not one. A bracketed IPv6 or a trailing ``:port`` (as some proxies write) is read."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_networks(values: Iterable[str], what: str) -> list[Network]:
    """IPs or networks (``203.0.113.0/24``), IPv4-mapped IPv6 ones as IPv4.

    :raises ValueError: one is neither, naming the setting ``what``.
    """
    networks: list[Network] = []
    for value in values:
        text = value.strip()
        if not text:
            continue
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"{what}: {text!r} is not an IP address or network") from None
        if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
            prefix = max(network.prefixlen - 96, 0)
            network = ipaddress.ip_network(
                f"{network.network_address.ipv4_mapped}/{prefix}", strict=False
            )
        networks.append(network)
    return networks


def _digest(token: str) -> bytes:
    # Compared as digests: equal lengths, so the comparison's time tells nothing of the length.
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


class AccessPolicy:
    """Decides whether a push may be stored.

    :param token: the secret path segment; empty refuses every push.
    :param allowed_ips: IPs or networks allowed to push; empty allows any address.
    :param trusted_proxies: IPs or networks of the reverse proxies whose ``X-Forwarded-For``
        is believed; empty ignores the header altogether.
    """

    def __init__(
        self,
        token: str,
        allowed_ips: Sequence[str] = (),
        trusted_proxies: Sequence[str] = (),
    ) -> None:
        self._expected = _digest(token) if token else None
        self.allowed = parse_networks(allowed_ips, "allowed IPs")
        self.trusted = parse_networks(trusted_proxies, "trusted proxies")

    def _trusted(self, address: Address) -> bool:
        return any(address in network for network in self.trusted)

    def client_address(self, peer: str, forwarded_for: Sequence[str] = ()) -> Address | None:
        """The caller's address: the peer's, or behind trusted proxies the rightmost
        ``X-Forwarded-For`` hop that is not one of them. None when it cannot be read.

        :param peer: the address of the connection's other end.
        :param forwarded_for: every ``X-Forwarded-For`` header value, in the order received.
        """
        address = parse_address(peer)
        if address is None or not self.trusted or not self._trusted(address):
            return address
        hops = [hop for value in forwarded_for for hop in value.split(",")]
        for hop in reversed(hops):
            hop_address = parse_address(hop)
            if hop_address is None:
                return None  # a hop we cannot read: we cannot tell who called
            if not self._trusted(hop_address):
                return hop_address
            address = hop_address
        return address  # every hop is a trusted proxy: the leftmost one called

    def check(self, token: str, peer: str, forwarded_for: Sequence[str] = ()) -> None:
        """:raises AccessRefused: the caller's address is not allowed, or the token is wrong
        (the address first, and the same refusal for both)."""
        if self.allowed:
            address = self.client_address(peer, forwarded_for)
            if address is None:
                raise AccessRefused("caller address unreadable")
            if not any(address in network for network in self.allowed):
                raise AccessRefused(f"caller {address} not allowed")
        if self._expected is None:
            raise AccessRefused("no receiver token is set")
        if not hmac.compare_digest(_digest(token), self._expected):
            raise AccessRefused("wrong token")

    def check_scope(self, token: str, scope: MutableMapping[str, object]) -> None:
        """``check`` for an ASGI request: its peer and its ``X-Forwarded-For`` headers.

        The path segment holding the token (right or wrong) is first replaced by ``***`` in
        the request's scope, which servers and middlewares share: an access log written after
        the answer (the Airflow API server's) then shows ``/hbsms/***/reports``.

        :raises AccessRefused: the caller may not push.
        """
        hide_token(scope, token)
        client = scope.get("client")
        peer = str(client[0]) if isinstance(client, list | tuple) and client else ""
        forwarded: list[str] = []
        if self.trusted:
            headers = scope.get("headers") or ()
            forwarded = [
                bytes(v).decode("latin-1")
                for k, v in headers  # type: ignore[attr-defined]
                if k == b"x-forwarded-for"
            ]
        self.check(token, peer, forwarded)


def hide_token(scope: MutableMapping[str, object], token: str) -> None:
    """Replace the path segment ``token`` by ``***`` in ``scope``'s ``path`` and
    ``raw_path``."""
    if not token:
        return
    path = scope.get("path")
    if isinstance(path, str):
        scope["path"] = path.replace(f"/{token}/", "/***/", 1)
    raw = scope.get("raw_path")
    if isinstance(raw, bytes):
        encoded = token.encode("utf-8", "surrogateescape")
        scope["raw_path"] = raw.replace(b"/" + encoded + b"/", b"/***/", 1)
        if scope["raw_path"] == raw:  # percent-encoded on the wire: keep the prefix only
            parts = raw.split(b"/")
            if len(parts) >= 3:
                parts[-2] = b"***"
                scope["raw_path"] = b"/".join(parts)


class RefusalLog:
    """Logs refusals at most once per ``interval`` seconds per reason kind, counting those it
    held back, so a flood of bad requests cannot flood the log.

    :param logger: where to log.
    :param interval: seconds between two lines of one kind.
    """

    def __init__(self, logger: logging.Logger, interval: float = 60.0) -> None:
        self.logger = logger
        self.interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def refused(self, kind: str, message: str, *args: object) -> bool:
        """Log ``message % args`` unless a line of ``kind`` was logged within the interval;
        True if logged."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.interval:
                self._held[kind] = self._held.get(kind, 0) + 1
                return False
            self._last[kind] = now
            held = self._held.pop(kind, 0)
        if held:
            message += " (%d more like it not logged in the last %.0f s)"
            args = (*args, held, self.interval)
        self.logger.warning(message, *args)
        return True
