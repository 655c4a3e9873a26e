"""A batch is claimed only when a connection can take it, at most one waiting behind each
request in flight: a process killed mid-send leaves at most one batch per connection claimed
but never posted (which a retry would have to call unknown), never the queue's worth."""

from __future__ import annotations

import threading
import time
from typing import Any

import pandas as pd
import pytest

from airflow_provider_hbsms.campaign.engine import Campaign
from airflow_provider_hbsms.campaign.inputs import row_source
from airflow_provider_hbsms.campaign.lanes import SendLanes
from airflow_provider_hbsms.campaign.plan import CampaignOptions
from airflow_provider_hbsms.campaign.spec import MessageSpec
from airflow_provider_hbsms.protocol import Endpoint, SendResult
from airflow_provider_hbsms.protocol.models import Credentials
from airflow_provider_hbsms.store.batch_states import BatchState


class HeldGateway:
    """Holds every request until released; notes, at each post, the batches claimed and the
    requests answered before."""

    def __init__(self, ledger: Any, key: str) -> None:
        self.credentials = Credentials("corp", "secret", "svc")
        self.ledger = ledger
        self.key = key
        self.release = threading.Event()
        self.posted = 0
        self.answered = 0
        self.at_post: list[tuple[int, int]] = []
        self._lock = threading.Lock()

    def send_body(self, endpoint: Endpoint, body: bytes, submitted: int, corp_msg_id: str = ""):
        # Claims counted before the answers are read: another lane answered in between can
        # only raise the answers, never the claims counted (read the other way round, a
        # claim that answer allowed was counted against the answers before it).
        claimed = len(self.ledger.batches(self.key))
        with self._lock:
            self.posted += 1
            answered = self.answered
        self.at_post.append((claimed, answered))
        self.release.wait(10)
        with self._lock:
            self.answered += 1
        return SendResult(endpoint, submitted, submitted, corp_msg_id)


def _campaign(connections: int, rows: int = 2000) -> Campaign:
    frame = pd.DataFrame({"mobile": [f"135{i:08d}" for i in range(rows)], "text": ["hi"] * rows})
    spec = MessageSpec("personalized", content_column="text")
    options = CampaignOptions(connections=connections)
    return Campaign("c/held", spec, row_source(frame, "mobile", 500, spec.columns()), options)


def _claimed(ledger: Any, key: str) -> dict[int, BatchState]:
    return {n: b.state for n, b in ledger.batches(key).items()}


@pytest.mark.parametrize("connections", [1, 2, 3])
def test_batches_are_claimed_only_as_connections_can_take_them(store, connections: int) -> None:
    campaign = _campaign(connections)
    gateway = HeldGateway(store.ledger, campaign.key)
    outcome: list[Any] = []
    sender = threading.Thread(
        target=lambda: outcome.append(campaign.send(gateway, store.ledger))  # type: ignore[arg-type]
    )
    sender.start()
    try:
        deadline = time.monotonic() + 5
        while gateway.posted < connections and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # room for the send to claim further ahead, if it did
        # Were the process killed now, one batch per connection would be claimed but never
        # posted: the one waiting behind each request in flight, and no more.
        claimed = _claimed(store.ledger, campaign.key)
        assert gateway.posted == connections
        assert claimed == {n: BatchState.PENDING for n in range(2 * connections)}
    finally:
        gateway.release.set()
        sender.join(30)
    report = outcome[0]
    assert (report.batches_sent, report.submitted) == (10, 2000)
    assert set(_claimed(store.ledger, campaign.key).values()) == {BatchState.ACCEPTED}
    # Never more batches claimed than answered plus two per connection (one in flight, one
    # waiting).
    assert all(claimed <= answered + 2 * connections for claimed, answered in gateway.at_post)


def test_a_lane_takes_one_body_while_it_posts_and_no_more() -> None:
    class Gate:
        def __init__(self) -> None:
            self.go = threading.Event()

        def send_body(self, endpoint: Endpoint, body: bytes, submitted: int, msg_id: str = ""):
            self.go.wait(10)
            return SendResult(endpoint, submitted, submitted, msg_id)

    gate = Gate()
    lanes: SendLanes[int] = SendLanes(gate, 2)  # type: ignore[arg-type]
    for n in range(4):  # two posting, one waiting behind each
        lanes.wait_for_room()
        lanes.submit(n, Endpoint.PERSONALIZED_SEND, str(n).encode(), 1)
    waited = threading.Event()
    waiter = threading.Thread(target=lambda: (lanes.wait_for_room(), waited.set()))
    waiter.start()
    assert not waited.wait(0.2)  # every lane posting with one waiting: no claim now
    gate.go.set()
    assert waited.wait(5)
    waiter.join()
    assert sorted(o.tag for o in lanes.drain()) == [0, 1, 2, 3]
    lanes.close()
