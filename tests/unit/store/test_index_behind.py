"""Indexing behind a send stands back while the machine's cores are saturated: the send's
threads then wait for a core, look idle, and indexing would take the core they wait for."""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING

import pytest

from airflow_provider_hbsms.store import indexing
from airflow_provider_hbsms.store.indexing import IndexBehind, cpu_stalled_seconds

if TYPE_CHECKING:
    from airflow_provider_hbsms.store import Store


def _journaled(store: Store, batches: int) -> None:
    from tests.fixtures.database import claimed

    claimed(store, "behind", batches=batches, size=3)


def test_stands_back_while_tasks_wait_for_a_core(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _journaled(store, 4)
    clock = itertools.count(step=1.0)  # a second of stall per reading: always saturated
    monkeypatch.setattr(indexing, "cpu_stalled_seconds", lambda: next(clock))
    with IndexBehind(store.engine, start_after=0, idle=0.02) as behind:
        time.sleep(0.5)
    assert behind.indexed == 0
    assert behind.paused > 5


@pytest.mark.parametrize(
    "pressure", [lambda: 5.0, lambda: None], ids=["no stall", "pressure not reported"]
)
def test_indexes_when_the_cores_are_free_or_pressure_is_not_reported(
    store: Store, monkeypatch: pytest.MonkeyPatch, pressure: object
) -> None:
    _journaled(store, 4)
    monkeypatch.setattr(indexing, "cpu_stalled_seconds", pressure)
    with IndexBehind(store.engine, start_after=0, idle=0.02) as behind:
        deadline = time.monotonic() + 10
        while behind.indexed < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert behind.indexed == 4


def test_pressure_is_read_from_the_kernel_where_it_reports_it() -> None:
    stalled = cpu_stalled_seconds()
    try:
        with open("/proc/pressure/cpu") as pressure:
            reported = pressure.readline().startswith("some ")
    except OSError:
        reported = False
    if reported:
        assert isinstance(stalled, float)
        assert stalled >= 0
        assert cpu_stalled_seconds() >= stalled  # type: ignore[operator]
    else:
        assert stalled is None
