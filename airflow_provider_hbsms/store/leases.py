"""Leases: how a try of a campaign says it is alive while it holds batches pending.

Another try meeting one of those batches waits while the lease is fresh; once its heartbeat is
older than the lease's time to live the try is taken for gone, and the batch's outcome for
unknown.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

log = logging.getLogger(__name__)

#: A try that has not renewed its lease for this long is taken for gone (seconds).
LEASE_TTL = 60.0


class LeaseBook(Protocol):
    """Where leases are written (the send ledger)."""

    def renew(self, owner: str, campaign_key: str) -> None: ...

    def release(self, owner: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Holder:
    """The try holding a batch: its lease's owner and last heartbeat.

    :param owner: the lease's owner id.
    :param heartbeat_at: when it last renewed its lease (UTC).
    """

    owner: str
    heartbeat_at: datetime

    def is_fresh(self, ttl: float, now: datetime | None = None) -> bool:
        """Renewed within ``ttl`` seconds: the try is alive and will settle the batch."""
        now = now or datetime.now(UTC)
        return now - self.heartbeat_at < timedelta(seconds=ttl)


class Lease:
    """A try's lease on the batches it claims: an owner id and a heartbeat a thread renews
    every ``ttl / 4`` seconds while the try runs. Another try meeting one of these batches
    pending waits for it to settle while the lease is fresh; once the heartbeat is older than
    ``ttl`` the try is taken for gone and the batch's outcome for unknown.

    :param ledger: the ledger.
    :param campaign_key: the campaign the try sends.
    :param ttl: seconds without a renewal after which the lease has expired.
    """

    def __init__(self, ledger: LeaseBook, campaign_key: str, ttl: float = LEASE_TTL) -> None:
        self.ledger = ledger
        self.campaign_key = campaign_key
        self.ttl = ttl
        self.owner = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Lease:
        self.renew()
        self._thread = threading.Thread(
            target=self._keep, name=f"hbsms-lease-{self.owner[:8]}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.ledger.release(self.owner)
        except Exception as exc:  # the store may be down: the lease then simply expires
            log.warning(
                "Could not release the send lease (%s); it expires by itself", type(exc).__name__
            )

    def renew(self) -> None:
        """Say this try is alive (commits)."""
        self.ledger.renew(self.owner, self.campaign_key)

    def _keep(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                self.renew()
            except Exception as exc:  # an outage: renewed again on the next beat
                log.warning("Could not renew the send lease (%s)", type(exc).__name__)
