"""Sender threads: each keeps one connection busy with bodies prepared ahead of time.

The campaign's own thread builds bodies and claims batches in the ledger; the lanes only post.
It builds the next body while every lane is busy, but claims its batch only once a lane can
take it (``wait_for_room``): free, or posting its last request, with at most one body waiting
per lane. So a process killed mid-send leaves at most one claimed-but-never-posted batch per
lane behind to look "outcome unknown", while the claim's commit still overlaps the lanes'
round trips (claiming only for an idle lane put the commit between every answer and the next
request: 6% of the latency ceiling with one connection, 11% with four). With ``n`` lanes
``n`` requests are in flight while body building and settling run beside them.
After the first failure no lane posts again: bodies still queued come back as not sent.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_hbsms.client import HbSmsClient
    from airflow_provider_hbsms.protocol.endpoints import Endpoint
    from airflow_provider_hbsms.protocol.models import SendResult

Tag = TypeVar("Tag")

#: Seconds the preparing thread stays off the CPU after a lane took a body, when it is ahead.
SENDING_HEADROOM = 0.002


class NotPosted:
    """A body that was never posted because another request failed first."""

    def __repr__(self) -> str:
        return "NOT_POSTED"


NOT_POSTED = NotPosted()


@dataclass(frozen=True, slots=True)
class Outcome(Generic[Tag]):
    """What became of one posted (or not posted) body.

    :param tag: the caller's handle on the body (its batch).
    :param result: the gateway's answer, the error raised, or ``NOT_POSTED``.
    """

    tag: Tag
    result: SendResult | BaseException | NotPosted


@dataclass(frozen=True, slots=True)
class _Work(Generic[Tag]):
    tag: Tag
    endpoint: Endpoint
    body: bytes
    submitted: int
    corp_msg_id: str


class SendLanes(Generic[Tag]):
    """``lanes`` threads posting prepared bodies through one client.

    :param client: the client (its connection pool is shared by the lanes).
    :param lanes: requests in flight at once.
    """

    def __init__(self, client: HbSmsClient, lanes: int) -> None:
        self.client = client
        # Room for one prepared body per lane: enough to never leave a lane idle, few enough
        # that a failure leaves little claimed-but-unsent work to give back.
        self._work: queue.Queue[_Work[Tag] | None] = queue.Queue(maxsize=lanes)
        self._outcomes: queue.Queue[Outcome[Tag]] = queue.Queue()
        self._failed = threading.Event()
        self._lanes = lanes
        # Bodies submitted and not yet answered by a lane (queued or being posted).
        self._unanswered = 0
        self._answered = threading.Condition()
        self._pending = 0
        self._last_take = time.monotonic()
        self._threads = [
            threading.Thread(target=self._run, name=f"hbsms-send-{n}", daemon=True)
            for n in range(lanes)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def failed(self) -> bool:
        """A request has failed: nothing more will be posted."""
        return self._failed.is_set()

    def wait_for_room(self) -> None:
        """Block until a lane can take a body: free to post it at once, or posting its last
        and taking this one next (at most one body waits per lane)."""
        with self._answered:
            self._answered.wait_for(lambda: self._unanswered < 2 * self._lanes)

    def submit(
        self, tag: Tag, endpoint: Endpoint, body: bytes, submitted: int, corp_msg_id: str = ""
    ) -> None:
        """Queue a body; blocks while every lane has one waiting already."""
        work = _Work(tag, endpoint, body, submitted, corp_msg_id)
        with self._answered:
            self._unanswered += 1
        try:
            self._work.put_nowait(work)
            self._pending += 1
            return
        except queue.Full:
            self._work.put(work)
            self._pending += 1
        # A lane just took a body and is sending it while the caller is a body ahead of every
        # lane. When lanes take bodies seldom (few connections, slow replies), the caller leaves
        # the CPU to that request for a moment before preparing more; when they take them
        # often, that moment is needed for preparing.
        now = time.monotonic()
        if now - self._last_take > 4 * SENDING_HEADROOM:
            time.sleep(SENDING_HEADROOM)
        self._last_take = now

    def finished(self) -> list[Outcome[Tag]]:
        """The outcomes available now, without waiting."""
        done: list[Outcome[Tag]] = []
        while True:
            try:
                done.append(self._outcomes.get_nowait())
            except queue.Empty:
                break
        self._pending -= len(done)
        return done

    def drain(self) -> Iterator[Outcome[Tag]]:
        """Every remaining outcome, as each arrives."""
        while self._pending:
            outcome = self._outcomes.get()
            self._pending -= 1
            yield outcome

    def close(self) -> None:
        """Let the lanes finish what is queued, then stop them."""
        for _ in self._threads:
            self._work.put(None)
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        while (work := self._work.get()) is not None:
            result: SendResult | BaseException | NotPosted
            if self._failed.is_set():
                result = NOT_POSTED
            else:
                try:
                    result = self.client.send_body(
                        work.endpoint, work.body, work.submitted, work.corp_msg_id
                    )
                except BaseException as exc:  # handed to the campaign's thread to settle
                    self._failed.set()
                    result = exc
            self._outcomes.put(Outcome(work.tag, result))
            with self._answered:
                self._unanswered -= 1
                self._answered.notify()
