"""Two live tries of one campaign: a try that meets a batch the other holds under a fresh lease
waits for it to settle, so both end without a false "unknown", and every number is texted once.
A batch whose lease expired is unknown, as before leases."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from sqlalchemy import update

from airflow_provider_hbsms import UnsettledBatchesError
from airflow_provider_hbsms.campaign.engine import Campaign
from airflow_provider_hbsms.campaign.inputs import row_source
from airflow_provider_hbsms.campaign.plan import CampaignOptions
from airflow_provider_hbsms.campaign.progress import SendReport
from airflow_provider_hbsms.campaign.spec import MessageSpec
from airflow_provider_hbsms.hooks.hbsms import HbSmsHook
from airflow_provider_hbsms.store.batch_states import BatchState
from airflow_provider_hbsms.store.db import make_engine
from airflow_provider_hbsms.store.ledger import SendLedger
from airflow_provider_hbsms.store.schema import send_leases
from airflow_provider_hbsms.store.sent import SentColumns
from tests.fixtures.simulator import connection_for
from tests.fixtures.threads import outcomes_together

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from airflow_provider_hbsms.simulator import GatewaySimulator

SPEC = MessageSpec("personalized", content_column="text")


def numbers(n: int) -> pd.DataFrame:
    return pd.DataFrame({"mobile": [f"135{i:08d}" for i in range(n)], "text": ["hi"] * n})


@pytest.fixture
def slow_gateway(simulator_factory: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    """A gateway taking 15 ms a request: two tries overlap for many batches."""
    sim = simulator_factory(latency_ms=15)
    monkeypatch.setenv("AIRFLOW_CONN_HBSMS_DEFAULT", connection_for(sim).as_json())
    monkeypatch.setenv("HBSMS_PACING_DIR", str(tmp_path / "pacing"))
    return sim


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    return str(
        request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    )


def _two_tries_at_once(url: str, frame: pd.DataFrame, connections: int) -> list[Any]:
    """Run two tries of one campaign in two threads, each with its own engine (as two worker
    processes would have), planned apart and sending together; each try's report or exception."""

    def plan(_: int) -> tuple[Engine, Campaign]:
        engine = make_engine(url)
        try:
            campaign = Campaign(
                "dag/send/run-1",
                SPEC,
                row_source(frame),
                CampaignOptions(batch_size=100, connections=connections),
            )
            campaign.plan()
        except BaseException:
            engine.dispose()
            raise
        return engine, campaign

    def send(planned: tuple[Engine, Campaign]) -> SendReport:
        engine, campaign = planned
        try:
            return campaign.send(HbSmsHook().client, SendLedger(engine))
        finally:
            engine.dispose()

    return outcomes_together(send, 2, setup=plan, timeout=240)


@pytest.mark.parametrize("connections", [1, 3])
def test_two_live_tries_both_succeed_and_text_every_number_once(
    slow_gateway: GatewaySimulator, store_url: str, connections: int
) -> None:
    frame = numbers(4000)
    results = _two_tries_at_once(store_url, frame, connections)
    for result in results:
        assert isinstance(result, SendReport), result
    # Each of the 40 batches was sent by one try and skipped (after waiting, or settled
    # already) by the other.
    assert sum(r.batches_sent for r in results) == 40
    assert sum(r.skipped_batches for r in results) == 40
    assert all(r.unknown_batches == [] for r in results)
    # They did meet: one waited on a batch the other had in flight.
    assert sum(r.waited_batches for r in results) > 0
    texted = Counter(m.mobile for m in slow_gateway.received())
    assert len(texted) == 4000
    assert set(texted.values()) == {1}


def _hold(ledger: SendLedger, campaign: Campaign, owner: str, beat: datetime) -> None:
    """Batch 0 claimed (pending) by ``owner``, whose lease was last renewed at ``beat``."""
    first = next(campaign.batches())
    ledger.claim(
        batch_key=first.key,
        campaign_key=campaign.key,
        batch_no=0,
        endpoint="/hSmsSend.do",
        content_hash=first.content_hash,
        submitted=len(first.messages),
        segments=first.segments,
        messages=SentColumns(
            first.msg_ids, first.messages.mobiles, first.messages.exts, first.messages.segments
        ),
        owner=owner,
    )
    ledger.renew(owner, campaign.key)
    with ledger.engine.begin() as conn:
        conn.execute(
            update(send_leases).where(send_leases.c.owner == owner).values(heartbeat_at=beat)
        )


def test_a_batch_whose_lease_expired_is_unknown_at_once(hbsms_conn: Any, store: Any) -> None:
    campaign = Campaign("c/expired", SPEC, row_source(numbers(150)), CampaignOptions())
    campaign.plan()
    _hold(store.ledger, campaign, "gone", datetime.now(UTC) - timedelta(minutes=5))
    started = time.monotonic()
    with pytest.raises(UnsettledBatchesError) as raised:
        campaign.send(HbSmsHook().client, store.ledger)
    assert raised.value.batches == [0]
    assert time.monotonic() - started < 5  # no waiting on a try that is gone


def test_waiting_on_a_live_try_is_bounded(hbsms_conn: Any, store: Any) -> None:
    """A live try that never settles its batch: waited for ``wait_for_other_try``, then
    unknown; the batches after it are sent."""
    options = CampaignOptions(batch_size=100, wait_for_other_try=1.0)
    campaign = Campaign("c/stuck", SPEC, row_source(numbers(250)), options)
    campaign.plan()
    _hold(store.ledger, campaign, "alive", datetime.now(UTC))
    started = time.monotonic()
    with pytest.raises(UnsettledBatchesError) as raised:
        campaign.send(HbSmsHook().client, store.ledger)
    assert raised.value.batches == [0]
    assert time.monotonic() - started >= 1.0
    assert store.ledger.batches("c/stuck")[0].state == BatchState.PENDING
