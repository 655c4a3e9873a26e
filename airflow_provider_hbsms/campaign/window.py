"""The send window: local hours during which texts may go out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Shanghai"


def _parse(value: str | time) -> time:
    if isinstance(value, time):
        return value
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
