"""Indexing behind a send stands back while the machine's cores are saturated: the send's
threads then wait for a core, look idle, and indexing would take the core they wait for."""

from __future__ import annotations

import itertools
import threading
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


class _CountingLock:
    """A lock that records which thread held it, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.holders: list[str] = []

    def __enter__(self) -> None:
        self._lock.acquire()
        self.holders.append(threading.current_thread().name)

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def test_a_waiting_writer_gets_the_lock_between_its_transactions(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim waiting on the ledger's writer lock takes it after the transaction under way,
    not after a whole burst: the index thread leaves the lock free after each one (taking it
    again at once, it held claims off for whole bursts: this fails with ``hand_over=0``)."""
    _journaled(store, 60)
    monkeypatch.setattr(indexing, "cpu_stalled_seconds", lambda: None)
    lock = _CountingLock()
    claims = 0

    def claim() -> None:
        nonlocal claims
        while behind.indexed < 60:
            with lock:
                claims += 1
            time.sleep(0.0001)

    with IndexBehind(
        store.engine, lock=lock, page=1, start_after=0, idle=0.01, burst=5.0
    ) as behind:
        while not lock.holders:
            time.sleep(0.001)
        claimer = threading.Thread(target=claim, name="claim")
        claimer.start()
        claimer.join(30)
    indexing_turns = [h for h in lock.holders if h == "hbsms-index"]
    assert behind.indexed == 60
    # Between two index transactions, a waiting claim took the lock nearly every time.
    runs = "".join("i" if h == "hbsms-index" else "c" for h in lock.holders).split("c")
    assert max(len(run) for run in runs) <= 8, runs
    assert claims >= len(indexing_turns) // 4
