"""A store outage mid-campaign: bounded reconnects, then an error that names the outage (no SQL,
no parameters), and a retry that finishes the campaign with nothing sent twice."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from airflow_provider_hbsms import StoreUnavailableError
from airflow_provider_hbsms.campaign.engine import Campaign
from airflow_provider_hbsms.campaign.inputs import row_source
from airflow_provider_hbsms.campaign.plan import CampaignOptions
from airflow_provider_hbsms.campaign.spec import MessageSpec
from airflow_provider_hbsms.hooks.hbsms import HbSmsHook
from airflow_provider_hbsms.store.batch_states import BatchState
from airflow_provider_hbsms.store.db import make_engine
from airflow_provider_hbsms.store.ledger import SendLedger
from tests.fixtures.simulator import connection_for

if TYPE_CHECKING:
    from collections.abc import Iterator

SPEC = MessageSpec("personalized", content_column="text")
SQL_WORDS = ("SELECT", "INSERT", "UPDATE", "parameters", "hbsms_send_batches")


@pytest.fixture
def outage_database(postgres_admin_url: str) -> Iterator[tuple[str, Any]]:
    """A database of its own, so that connections to it can be refused and killed without
    touching anyone else's; dropped afterwards."""
    name = f"hbsms_outage_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = postgres_admin_url.rsplit("/", 1)[0]
    yield f"{base}/{name}", (admin, name)
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
            {"d": name},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.mark.postgres
def test_killed_store_connections_end_in_a_store_outage_error_and_the_retry_finishes(
    simulator_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    outage_database: tuple[str, Any],
) -> None:
    sim = simulator_factory(latency_ms=10)
    monkeypatch.setenv("AIRFLOW_CONN_HBSMS_DEFAULT", connection_for(sim).as_json())
    monkeypatch.setenv("HBSMS_PACING_DIR", str(tmp_path / "pacing"))
    url, (admin, name) = outage_database
    frame = pd.DataFrame({"mobile": [f"135{i:08d}" for i in range(6000)], "text": ["hi"] * 6000})

    def campaign() -> Campaign:
        options = CampaignOptions(batch_size=100, connections=2)
        planned = Campaign("dag/send/outage", SPEC, row_source(frame), options)
        planned.plan()
        return planned

    outage_over = threading.Event()

    def take_the_store_down() -> None:
        """Once a third is sent: refuse new connections and kill the open ones for 9 s
        (longer than a claim's reconnects, shorter than recording what was sent)."""
        while len(sim.received()) < 2000:
            time.sleep(0.01)
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                {"d": name},
            )
            time.sleep(9)
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        outage_over.set()

    killer = threading.Thread(target=take_the_store_down)
    engine = make_engine(url)
    client = HbSmsHook().client
    killer.start()
    with pytest.raises(StoreUnavailableError) as raised:
        campaign().send(client, SendLedger(engine))
    killer.join()
    message = str(raised.value)
    assert "the store (" in message
    assert "was unreachable while claiming batch" in message
    assert "Nothing was sent twice" in message
    assert "Every batch posted was recorded" in message
    assert "password" not in message.lower()
    assert not any(word in message for word in SQL_WORDS)
    assert outage_over.is_set()
    sent_before = len(sim.received())
    assert 2000 <= sent_before < 6000

    # The retry: another try (a new process would have its own engine) finishes the rest.
    engine.dispose()
    retry_engine = make_engine(url)
    report = campaign().send(client, SendLedger(retry_engine))
    assert report.unknown_batches == []
    assert report.skipped_batches == sent_before // 100
    assert report.batches_sent == 60 - sent_before // 100
    texted = Counter(m.mobile for m in sim.received())
    assert len(texted) == 6000
    assert set(texted.values()) == {1}
    batches = SendLedger(retry_engine).batches("dag/send/outage")
    assert {b.state for b in batches.values()} == {BatchState.ACCEPTED}
    retry_engine.dispose()


def test_the_outage_error_is_a_campaign_error() -> None:
    from airflow_provider_hbsms import CampaignError

    error = StoreUnavailableError("c", "claiming batch 1", "sqlite:///s.db", "X", 5, 7.5)
    assert isinstance(error, CampaignError)
    assert error.unrecorded == []
