"""The send window: local hours during which texts may go out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Shanghai"


#: ``HH:MM`` or ``HH:MM:SS``, nothing else: ``time.fromisoformat`` also reads ``08-00`` as
#: 08:00 at offset -00:00 and ``0800``, ``08`` or ``T08:00`` as 08:00, none of which a user means
#: as a local time in the window's zone.
_CLOCK = re.compile(r"\d\d:\d\d(?::\d\d)?")


def _parse(value: str | time) -> time:
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise ValueError(
                f"send_window: {value!r} carries its own zone; give a plain time and the "
                "window's zone as timezone="
            )
        return value
    if not isinstance(value, str) or not _CLOCK.fullmatch(value):
        raise ValueError(f"send_window: {value!r} is not a time like '08:00'")
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"send_window: {value!r} is not a time like '08:00'") from None


@dataclass(frozen=True)
class SendWindow:
    """Local hours ``[start, end)`` in ``timezone``; a window whose end is before its start
    runs over midnight.

    :param start: opening time, e.g. ``"08:00"``.
    :param end: closing time, e.g. ``"21:00"``.
    :param timezone: IANA zone of those times.
    """

    start: time
    end: time
    timezone: ZoneInfo

    @classmethod
    def parse(
        cls, window: tuple[str | time, str | time], timezone: str = DEFAULT_TIMEZONE
    ) -> SendWindow:
        if isinstance(window, str) or len(window) != 2:
            raise ValueError(
                f"send_window: {window!r} is not a (start, end) pair like ('08:00', '21:00')"
            )
        start, end = (_parse(v) for v in window)
        if start == end:
            raise ValueError(
                "send_window: start and end are equal; omit the window to send anytime"
            )
        return cls(start, end, ZoneInfo(timezone))

    def _local(self, now: datetime) -> datetime:
        return now.astimezone(self.timezone)

    def is_open(self, now: datetime) -> bool:
        """Whether ``now`` (aware) falls inside the window."""
        moment = self._local(now).time()
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    def next_open(self, now: datetime) -> datetime:
        """When the window next opens (``now`` if it is open)."""
        if self.is_open(now):
            return now
        local = self._local(now)
        opening = datetime.combine(local.date(), self.start, self.timezone)
        if opening <= local:
            opening += timedelta(days=1)
        return opening

    def describe(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.timezone.key}"
