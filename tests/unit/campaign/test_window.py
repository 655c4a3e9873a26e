"""The send window: local hours in the window's zone, boundaries, windows over midnight, and
when a closed window opens next."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from airflow_provider_hbsms.campaign.window import DEFAULT_TIMEZONE, SendWindow

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = SendWindow.parse(("08:00", "21:00"))
NIGHT = SendWindow.parse(("22:00", "06:00"))


def _at(hour: int, minute: int = 0, second: int = 0, day: int = 25) -> datetime:
    """A moment given in Shanghai local time, expressed in UTC as callers pass it."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


def test_parse_takes_strings_or_times_and_defaults_to_china_time() -> None:
    assert SendWindow(time(8), time(21), ZoneInfo(DEFAULT_TIMEZONE)) == DAY
    assert SendWindow.parse((time(8), "21:00")) == DAY
    assert SendWindow.parse(("08:00:00", "21:00:00")) == DAY
    assert SendWindow.parse(("09:30", "17:45"), "Europe/Berlin").start == time(9, 30)
    assert DAY.timezone.key == "Asia/Shanghai"


@pytest.mark.parametrize(
    "value",
    [
        "8am", "25:00", "", "8:00", "noon", "08:60",
        # time.fromisoformat reads these, none as a local time of the window's zone:
        "08-00", "0800", "08", "T08:00", "08:00+08:00", "08:00Z", "08:00:00.5", " 08:00",
    ],
)  # fmt: skip
def test_parse_refuses_what_is_not_a_time(value: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"send_window: '{value}' is not a time like")):
        SendWindow.parse((value, "21:00"))


def test_parse_refuses_a_time_with_its_own_zone() -> None:
    with pytest.raises(ValueError, match="carries its own zone; give a plain time"):
        SendWindow.parse((time(8, tzinfo=UTC), "21:00"))


@pytest.mark.parametrize("window", ["08:00-21:00", ("08:00",), ("08:00", "12:00", "21:00")])
def test_parse_refuses_what_is_not_a_pair(window: object) -> None:
    with pytest.raises(ValueError, match="is not a \\(start, end\\) pair"):
        SendWindow.parse(window)  # type: ignore[arg-type]


@pytest.mark.parametrize("window", [("08:00", "08:00"), ("00:00", "00:00"), (time(9), "09:00")])
def test_parse_refuses_an_empty_window(window: tuple[str | time, str | time]) -> None:
    with pytest.raises(ValueError, match="start and end are equal"):
        SendWindow.parse(window)


def test_parse_refuses_an_unknown_zone() -> None:
    with pytest.raises(ZoneInfoNotFoundError, match="Mars/Olympus"):
        SendWindow.parse(("08:00", "21:00"), "Mars/Olympus")


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (_at(7, 59, 59), False),
        (_at(8), True),  # the start is inside
        (_at(12), True),
        (_at(20, 59, 59), True),
        (_at(21), False),  # the end is outside
        (_at(23, 30), False),
        (_at(0), False),
    ],
)
def test_a_day_window_is_start_inclusive_end_exclusive(moment: datetime, open_: bool) -> None:
    assert DAY.is_open(moment) is open_


@pytest.mark.parametrize(
    ("moment", "open_"),
    [
        (_at(21, 59, 59), False),
        (_at(22), True),
        (_at(23, 59, 59), True),
        (_at(0), True),  # past midnight, still open
        (_at(5, 59, 59), True),
        (_at(6), False),
        (_at(12), False),
    ],
)
def test_a_window_over_midnight(moment: datetime, open_: bool) -> None:
    assert NIGHT.is_open(moment) is open_


def test_the_window_is_read_in_its_zone_whatever_zone_now_is_in() -> None:
    # 00:30 UTC is 08:30 in Shanghai: open, though it is the middle of the night in UTC.
    moment = datetime(2026, 11, 25, 0, 30, tzinfo=UTC)
    assert DAY.is_open(moment)
    assert DAY.is_open(moment.astimezone(ZoneInfo("America/New_York")))
    assert not SendWindow.parse(("08:00", "21:00"), "UTC").is_open(moment)


def test_next_open_is_now_while_open() -> None:
    moment = _at(9, 15)
    assert DAY.next_open(moment) is moment
    assert NIGHT.next_open(_at(1)) == _at(1)


@pytest.mark.parametrize(
    ("window", "moment", "opens"),
    [
        (DAY, _at(6), _at(8)),  # later the same day
        (DAY, _at(7, 59, 59), _at(8)),
        (DAY, _at(21), _at(8, day=26)),  # closed for the day: tomorrow
        (DAY, _at(23, 59), _at(8, day=26)),
        (NIGHT, _at(6), _at(22)),  # an over-midnight window opens in the evening
        (NIGHT, _at(21, 59), _at(22)),
    ],
)
def test_next_open_when_closed(window: SendWindow, moment: datetime, opens: datetime) -> None:
    nxt = window.next_open(moment)
    assert nxt == opens
    assert nxt.tzinfo is not None
    assert window.is_open(nxt)
    assert not window.is_open(nxt - timedelta(seconds=1))


def test_next_open_across_the_month_end() -> None:
    assert DAY.next_open(_at(22, day=30)) == datetime(2026, 12, 1, 8, tzinfo=SHANGHAI)


def test_next_open_keeps_local_hours_over_a_daylight_saving_change() -> None:
    berlin = SendWindow.parse(("08:00", "20:00"), "Europe/Berlin")
    # Clocks went forward at 01:00 UTC on 2026-03-29: 08:00 local is 06:00 UTC that day,
    # where it was 07:00 UTC the day before.
    before = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)  # 21:00 CET, closed
    assert berlin.next_open(before) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    assert berlin.next_open(datetime(2026, 3, 28, 5, 0, tzinfo=UTC)) == datetime(
        2026, 3, 28, 7, 0, tzinfo=UTC
    )


def test_describe() -> None:
    assert DAY.describe() == "08:00-21:00 Asia/Shanghai"
    assert SendWindow.parse(("22:30", "06:05"), "UTC").describe() == "22:30-06:05 UTC"
