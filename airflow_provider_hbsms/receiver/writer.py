"""Storing pushed bodies, several per transaction when they queue up.

Bodies that arrive while a transaction commits share the next one: a backlog pushed by the
gateway costs a commit per group instead of per body. Every push is still answered only after
the transaction that holds it has committed.

On SQLite a group of report pushes is stored on the event loop itself, through a connection
that never waits for a lock (writers take turns anyway, and a hand-over to a thread costs the
interpreter lock's ping-pong, a large part of a push's CPU); the loop stops for one group's
transaction, a few milliseconds. Whatever would make it wait (a lock held by another process,
a reply's attribution, PostgreSQL's round trips) goes to a writer thread instead, which waits
for the database only until each push's deadline; so ``/health`` and new connections are
served whatever holds the database.

A database that runs concurrent writers (PostgreSQL) gets two writer threads: while one
transaction waits for the server (its statements, its commit's flush), the next group is
prepared and sent on another connection. The store already takes concurrent writers (several
receiver processes on one store): counters are moved under advisory locks, and a deadlock the
server breaks is run again.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_hbsms.receiver.intake import PushIntake

#: Most bodies stored in one transaction (100 reports each: a group stays a few MB).
MAX_GROUP = 32
#: Seconds a writer thread waits for work before it ends (the next push starts it again).
IDLE_SECONDS = 5.0


@dataclass
class _Push:
    kind: str
    body: bytes
    deadline: float
    loop: asyncio.AbstractEventLoop
    outcome: asyncio.Future[None]


class PushWriter:
    """Stores pushes from writer threads, in groups.

    :param intake: stores a group of bodies (``PushIntake.ingest_group``).
    :param max_group: most bodies in one transaction.
    """

    def __init__(self, intake: PushIntake, max_group: int = MAX_GROUP) -> None:
        self.intake = intake
        self.max_group = max_group
        self._queue: queue.SimpleQueue[_Push] = queue.SimpleQueue()
        self._threads = 0
        self._idle = 0
        self._running = threading.Lock()
        self._at_once: deque[_Push] = deque()
        self._draining: asyncio.Task[None] | None = None

    async def store(self, kind: str, body: bytes, deadline: float) -> None:
        """Store one body; returns once the transaction that holds it committed.

        :raises Refused: the body cannot be read, or the store stayed busy until ``deadline``
            (``time.monotonic()``).
        :raises TimeoutError: the deadline passed first (the writer may still commit it: the
            gateway's re-push is then stored once).
        """
        loop = asyncio.get_running_loop()
        push = _Push(kind, body, deadline, loop, loop.create_future())
        if kind == "reports" and self.intake.stores_at_once():
            self._at_once.append(push)
            if self._draining is None or self._draining.done():
                self._draining = loop.create_task(self._drain())
        else:
            self._to_thread([push])
        await asyncio.wait_for(push.outcome, max(deadline - time.monotonic(), 0.001))

    def _to_thread(self, pushes: list[_Push]) -> None:
        for push in pushes:
            self._queue.put(push)
        with self._running:
            # Another writer only when none waits for work and the database takes it.
            if self._idle == 0 and self._threads < self.intake.writers():
                self._threads += 1
                self._idle += 1
                threading.Thread(target=self._run, name="hbsms-push-writer", daemon=True).start()

    async def _drain(self) -> None:
        """Store the report pushes queued on the loop, a group at a time, letting the loop
        take in new requests between groups (they form the next group)."""
        while self._at_once:
            group: list[_Push] = []
            while self._at_once and len(group) < self.max_group:
                push = self._at_once.popleft()
                if not push.outcome.done():
                    group.append(push)
            if group:
                try:
                    outcomes = self.intake.ingest_group_at_once(
                        "reports", [push.body for push in group]
                    )
                except Exception as exc:  # the store failed: each push is answered non-0
                    outcomes = [exc] * len(group)
                if outcomes is None:  # the write lock is held: the thread waits for it
                    self._to_thread(group)
                else:
                    for push, outcome in zip(group, outcomes, strict=True):
                        _settle(push.outcome, outcome)
            await asyncio.sleep(0)

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._running:
                    # A push queued after the timeout but before this lock finds this thread
                    # counted as idle and relies on it: look again under the lock.
                    if self._queue.empty():
                        self._threads -= 1
                        self._idle -= 1
                        return
                continue
            with self._running:
                self._idle -= 1
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
            with self._running:
                self._idle += 1

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
