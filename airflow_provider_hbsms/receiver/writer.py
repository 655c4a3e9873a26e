"""One thread that stores pushed bodies, several per transaction when they queue up.

The event loop never touches the database (so ``/health`` and new connections are served
whatever holds it); it hands each push to this writer and awaits its outcome. Bodies that
arrive while a transaction commits share the next one: a backlog pushed by the gateway costs
a commit per group instead of per body, and no thread waits on another for the write lock.
Every push is still answered only after the transaction that holds it has committed.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_hbsms.receiver.intake import PushIntake

#: Most bodies stored in one transaction (100 reports each: a group stays a few MB).
MAX_GROUP = 32
#: Seconds the writer thread waits for work before it ends (the next push starts it again).
IDLE_SECONDS = 5.0


@dataclass
class _Push:
    kind: str
    body: bytes
    deadline: float
    loop: asyncio.AbstractEventLoop
    outcome: asyncio.Future[None]


class PushWriter:
    """Stores pushes from one thread, in groups.

    :param intake: stores a group of bodies (``PushIntake.ingest_group``).
    :param max_group: most bodies in one transaction.
    """

    def __init__(self, intake: PushIntake, max_group: int = MAX_GROUP) -> None:
        self.intake = intake
        self.max_group = max_group
        self._queue: queue.SimpleQueue[_Push] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._running = threading.Lock()

    async def store(self, kind: str, body: bytes, deadline: float) -> None:
        """Store one body; returns once the transaction that holds it committed.

        :raises Refused: the body cannot be read, or the store stayed busy until ``deadline``
            (``time.monotonic()``).
        :raises TimeoutError: the deadline passed first (the writer may still commit it: the
            gateway's re-push is then stored once).
        """
        loop = asyncio.get_running_loop()
        push = _Push(kind, body, deadline, loop, loop.create_future())
        self._queue.put(push)
        with self._running:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="hbsms-push-writer", daemon=True
                )
                self._thread.start()
        await asyncio.wait_for(push.outcome, max(deadline - time.monotonic(), 0.001))

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._running:
                    # A push queued after the timeout but before this lock finds the thread
                    # still set and relies on it: look again under the lock.
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            group = [first]
            while len(group) < self.max_group:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for kind in ("reports", "replies"):
                same = [push for push in group if push.kind == kind]
                if same:
                    self._store_group(kind, same)

    def _store_group(self, kind: str, group: list[_Push]) -> None:
        now = time.monotonic()
        live = [push for push in group if not push.outcome.done() and push.deadline > now]
        if not live:
            return
        outcomes: list[Exception | None]
        try:
            outcomes = self.intake.ingest_group(
                kind, [push.body for push in live], [push.deadline for push in live]
            )
        except Exception as exc:  # the store failed: every push of the group is answered non-0
            outcomes = [exc] * len(live)
        for push, outcome in zip(live, outcomes, strict=True):
            push.loop.call_soon_threadsafe(_settle, push.outcome, outcome)


def _settle(outcome: asyncio.Future[None], error: Exception | None) -> None:
    if outcome.done():  # the caller stopped waiting (its deadline passed)
        return
    if error is not None:
        outcome.set_exception(error)
    else:
        outcome.set_result(None)
