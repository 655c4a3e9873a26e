"""Send lanes: bodies posted concurrently, and after the first failure nothing more is posted."""

from __future__ import annotations

import threading
import time

from airflow_provider_hbsms import SendOutcomeUnknownError
from airflow_provider_hbsms.campaign.lanes import NOT_POSTED, SendLanes
from airflow_provider_hbsms.protocol import Endpoint, SendResult


class FakeClient:
    """Answers after ``delay``; raises for the bodies in ``fail``."""

    def __init__(self, delay: float = 0.0, fail: frozenset[bytes] = frozenset()) -> None:
        self.delay = delay
        self.fail = fail
        self.posted: list[bytes] = []
        self.most_at_once = 0
        self._now = 0
        self._lock = threading.Lock()

    def send_body(self, endpoint: Endpoint, body: bytes, submitted: int, corp_msg_id: str = ""):
        with self._lock:
            self.posted.append(body)
            self._now += 1
            self.most_at_once = max(self.most_at_once, self._now)
        try:
            time.sleep(self.delay)
            if body in self.fail:
                raise SendOutcomeUnknownError(endpoint, "connection closed", submitted)
            return SendResult(endpoint, submitted, submitted, corp_msg_id)
        finally:
            with self._lock:
                self._now -= 1


def test_lanes_keep_n_requests_in_flight_and_report_every_outcome() -> None:
    client = FakeClient(delay=0.02)
    lanes: SendLanes[int] = SendLanes(client, 4)  # type: ignore[arg-type]
    for n in range(12):
        lanes.submit(n, Endpoint.PERSONALIZED_SEND, str(n).encode(), 200)
    outcomes = list(lanes.drain())
    lanes.close()
    assert sorted(o.tag for o in outcomes) == list(range(12))
    assert all(isinstance(o.result, SendResult) for o in outcomes)
    assert client.most_at_once == 4


def test_after_a_failure_queued_bodies_come_back_not_sent() -> None:
    client = FakeClient(delay=0.01, fail=frozenset({b"0"}))
    lanes: SendLanes[int] = SendLanes(client, 1)  # type: ignore[arg-type]
    lanes.submit(0, Endpoint.PERSONALIZED_SEND, b"0", 200)
    lanes.submit(1, Endpoint.PERSONALIZED_SEND, b"1", 200)  # waits in the queue
    outcomes = {o.tag: o.result for o in lanes.drain()}
    assert lanes.failed
    lanes.close()
    assert isinstance(outcomes[0], SendOutcomeUnknownError)
    assert outcomes[1] is NOT_POSTED
    assert client.posted == [b"0"]
