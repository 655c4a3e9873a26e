"""Log lines a person reads: counts first, rate and time left, the key once; a waiting
sensor logs when the counts change, with a heartbeat while they do not."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from airflow_provider_hbsms import waiting
from airflow_provider_hbsms.campaign import progress as progress_module
from airflow_provider_hbsms.campaign.progress import Progress, SendReport, duration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(progress_module.time, "monotonic", fake)
    monkeypatch.setattr(waiting.time, "monotonic", fake)
    return fake


def test_send_progress_gives_counts_rate_and_time_left(clock, caplog) -> None:
    caplog.set_level(logging.INFO, logger=progress_module.__name__)
    progress = Progress("dag/send/run", total=100)
    report = SendReport(batches_sent=25, submitted=5000)
    clock.now += 5
    progress.tick(report)  # under 10 s since the last line: quiet
    assert caplog.messages == []
    clock.now += 5
    progress.tick(report)
    (line,) = caplog.messages
    # 25 batches in 10 s: 75 left take 30 s.
    assert line == "25/100 batches sent, 5000 messages, 500 messages/s, about 30s left"
    assert "dag/send/run" not in line  # the key is logged once, when the campaign starts


def test_durations_read_naturally() -> None:
    assert [duration(s) for s in (4.4, 65, 3725)] == ["4s", "1m 05s", "1h 02m"]


def test_sensor_logs_only_changes_and_a_heartbeat(clock, caplog) -> None:
    caplog.set_level(logging.INFO, logger=waiting.__name__)

    def check(delivered: int, failed: int, pending: int) -> None:
        summary = SimpleNamespace(delivered=delivered, failed=failed, pending=pending, total=40)
        waiting._log_delivery("dag/send/run-heartbeat", summary)

    check(0, 0, 40)
    for _ in range(5):
        clock.now += 30
        check(0, 0, 40)  # unchanged: nothing
    clock.now += 30
    check(12, 1, 27)
    clock.now += waiting.HEARTBEAT_SECONDS
    check(12, 1, 27)  # unchanged for five minutes: a heartbeat
    assert caplog.messages == [
        "0 delivered, 0 failed, 40 pending of 40 (delivery of dag/send/run-heartbeat)",
        "12 delivered, 1 failed, 27 pending of 40",
        "12 delivered, 1 failed, 27 pending of 40 (no change for 5 min)",
    ]
