"""Indexing a campaign's sent messages while it sends, on time the send would spend waiting.

A claim journals its batch's messages in one row; the rows that reports and replies are
matched against are built from that journal by the first reader (``store/sent.py``). Against a
gateway that answers at once, that keeps indexing off the send's path. Against a real one the
send mostly waits for round trips, and indexing behind it, a few batches per transaction, lets
the first delivery summary find the work done instead of doing it all after the last batch.

It only uses time the send leaves: while the rest of the process uses more than ``busy`` of
a core (a gateway answering at once, where sending is CPU-bound), it stands back and the first
reader indexes, as before. It measures that while it pauses (``idle``, between bursts of
``burst`` seconds of indexing): while it indexes it holds the interpreter lock, and the send's
threads could not show how busy they are.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_hbsms.store.db import in_transaction
from airflow_provider_hbsms.store.sent import expand

if TYPE_CHECKING:
    from types import TracebackType

    from sqlalchemy import Engine

    from airflow_provider_hbsms.store.ledger import SendLedger

log = logging.getLogger(__name__)

_CPU_PRESSURE = "/proc/pressure/cpu"


def cpu_stalled_seconds() -> float | None:
    """Seconds, since boot, in which some runnable task of the machine (or of this container's
    group) waited for a core: Linux's CPU pressure (``/proc/pressure/cpu``); None where the
    kernel does not report it."""
    try:
        with open(_CPU_PRESSURE) as pressure:
            some = pressure.readline()
    except OSError:
        return None
    total = some.rpartition("total=")[2]
    return int(total) / 1e6 if total.strip().isdigit() else None


class IndexBehind:
    """A thread that indexes journaled batches while the ``with`` block runs.

    Each transaction indexes ``page`` batches, so it holds the store's write lock only briefly
    (on SQLite, writers take turns with the send's claims on ``lock``). An indexing error is
    logged and stops the thread: whoever reads next indexes what is left.

    :param engine: the store's engine.
    :param lock: held around each transaction (the ledger's writer lock on SQLite).
    :param page: batches per transaction.
    :param idle: seconds of each pause, in which it measures how busy the send is.
    :param busy: the share of a core the rest of the process may use for indexing to go on.
    :param burst: seconds of indexing between pauses.
    :param start_after: seconds before it starts: a send shorter than that leaves little to
        index, and the first reader does it.
    :param saturated: the share of a pause in which some task of the machine waited for a
        core (Linux's CPU pressure) above which it stands back too.
    :param hand_over: seconds it leaves ``lock`` free after each transaction, for a writer
        waiting on it (a claim) to take it.
    """

    def __init__(
        self,
        engine: Engine,
        lock: Any = None,
        page: int = 4,
        idle: float = 0.05,
        busy: float = 0.35,
        burst: float = 0.2,
        start_after: float = 1.0,
        saturated: float = 0.5,
        hand_over: float = 0.001,
    ) -> None:
        self.engine = engine
        self.lock = lock if lock is not None else contextlib.nullcontext()
        self.page = page
        self.idle = idle
        self.busy = busy
        self.burst = burst
        self.start_after = start_after
        self.saturated = saturated
        self.hand_over = hand_over
        self.indexed = 0
        self.paused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hbsms-index", daemon=True)

    @classmethod
    def behind(cls, ledger: SendLedger) -> IndexBehind:
        """Indexing behind a send through ``ledger``, taking turns with its writers."""
        # On SQLite the ledger queues this process's writers on a lock (one writer at a time,
        # and the busy handler's sleeps are long); PostgreSQL's lock is a no-op.
        return cls(ledger.engine, lock=ledger._writing)

    def __enter__(self) -> IndexBehind:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _others_busy(self) -> bool:
        """Pause for ``idle`` seconds; whether the other threads used more than ``busy`` of a
        core meanwhile, or the machine's cores were saturated (then the send's threads could
        not show how busy they are: they waited for a core, and indexing would take it)."""
        wall, others = time.monotonic(), time.process_time() - time.thread_time()
        stalled = cpu_stalled_seconds()
        self._stop.wait(self.idle)
        elapsed = max(time.monotonic() - wall, 1e-6)
        used = time.process_time() - time.thread_time() - others
        if used / elapsed > self.busy:
            return True
        if stalled is not None:
            after = cpu_stalled_seconds()
            if after is not None and (after - stalled) / elapsed > self.saturated:
                return True
        return False

    def _run(self) -> None:
        try:
            self._stop.wait(self.start_after)
            while not self._stop.is_set():
                if self._others_busy():
                    self.paused += 1
                    continue
                until = time.monotonic() + self.burst
                while time.monotonic() < until and not self._stop.is_set():
                    with self.lock:
                        done = in_transaction(self.engine, lambda c: expand(c, self.page, pages=1))
                    self.indexed += done
                    if not done:
                        break
                    # A lock is not fair: taken again at once, it kept the send's claims
                    # waiting for a whole burst (4% of the latency ceiling with four lanes).
                    self._stop.wait(self.hand_over)
        except Exception as exc:  # the next reader indexes what is left
            log.warning("Indexing sent messages behind the send stopped: %s", exc)
