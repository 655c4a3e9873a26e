"""What a send did so far (``SendReport``) and the progress lines of long sends: counts
first, then the rate and the time left."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

log = logging.getLogger(__name__)


@dataclass
class SendReport:
    """What sending did (pass 2)."""

    batches_sent: int = 0
    submitted: int = 0
    accepted: int = 0
    dropped: int = 0
    skipped_batches: int = 0
    skipped_messages: int = 0
    segments_sent: int = 0
    resent_batches: int = 0
    #: batches another live try was sending, waited for rather than called unknown.
    waited_batches: int = 0
    unknown_batches: list[int] = field(default_factory=list)
    paused_until: datetime | None = None


class Progress:
    """Logs progress of long sends, at most every 10 seconds: counts first, then the rate and
    the time left (the campaign's key is logged once, when it starts)."""

    def __init__(self, key: str, total: int | None) -> None:
        self.key = key
        self.total = total
        self.started = self.last = time.monotonic()

    def tick(self, report: SendReport) -> None:
        now = time.monotonic()
        if now - self.last < 10:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        rate = report.submitted / elapsed
        if not self.total:
            log.info(
                "%d batches sent, %d messages, %.0f messages/s",
                report.batches_sent,
                report.submitted,
                rate,
            )
            return
        left = max(self.total - report.batches_sent - report.skipped_batches, 0)
        per_batch = elapsed / max(report.batches_sent, 1)
        log.info(
            "%d/%d batches sent, %d messages, %.0f messages/s, about %s left",
            report.batches_sent + report.skipped_batches,
            self.total,
            report.submitted,
            rate,
            duration(left * per_batch),
        )


def duration(seconds: float) -> str:
    """``1h 02m``, ``3m 05s`` or ``42s``."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
