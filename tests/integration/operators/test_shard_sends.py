"""Sharded sends against the simulator: mapped shards that dedupe campaign-wide, one sensor
for every shard, retries that pull reports first, and indexing while a send waits."""

from __future__ import annotations

import threading
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from airflow_provider_hbsms.campaign.shards import split_into_shards
from airflow_provider_hbsms.operators.send import HbSmsPersonalizedSendOperator, HbSmsSendOperator
from airflow_provider_hbsms.operators.shards import combine_shard_results, pull_reports_before_retry
from airflow_provider_hbsms.sensors.delivery import HbSmsDeliveryReportSensor
from airflow_provider_hbsms.waiting import campaign_keys_of
from tests.fixtures.inputs import members

RUN = "manual__2026-11-25T00:00:00+00:00"


def _context(task: Any = None, map_index: int = -1, try_number: int = 1) -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id="d", task_id="send", run_id=RUN, map_index=map_index, try_number=try_number
    )
    return {"ti": ti, "task": task}


def test_duplicates_land_in_one_shard_so_dedupe_holds_campaign_wide(
    simulator, hbsms_conn, store, tmp_path
) -> None:
    """A same-content campaign over shards texts a number once, however often and however it
    is written in the input, and mapped shards run side by side."""
    numbers = [f"139{i:08d}" for i in range(900)]
    messy = numbers + [f"+86 {n[:3]}-{n[3:7]}-{n[7:]}" for n in numbers[::3]] + numbers[::5]
    frame = pd.DataFrame({"mobile": messy})
    shards = split_into_shards(frame, tmp_path / "shards", 3)
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def run(shard: int) -> None:
        op = HbSmsSendOperator(
            task_id="send",
            input=shards[shard].path,
            content="您的订单已发货",
            store_url=str(store.engine.url),
        )
        try:
            results.append(op.execute(_context(map_index=shard)))  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    counts = Counter(m.mobile for m in simulator.received())
    assert sorted(counts) == numbers
    assert set(counts.values()) == {1}
    combined = combine_shard_results(results)
    assert combined["shards"] == 3
    assert (combined["rows"], combined["messages"], combined["accepted"]) == (len(messy), 900, 900)
    assert combined["duplicates"] == len(messy) - 900
    assert sorted(combined["campaign_key"]) == [f"d/send/{RUN}/{i}" for i in range(3)]


def test_one_sensor_waits_for_every_shard(simulator, hbsms_conn, store, tmp_path) -> None:
    shards = split_into_shards(members(1000), tmp_path / "shards", 4)
    results = []
    for shard in shards:
        op = HbSmsPersonalizedSendOperator(
            task_id="send",
            input=shard.path,
            template="{name}: {points}",
            store_url=str(store.engine.url),
        )
        results.append(op.execute(_context(map_index=shard.index)))  # type: ignore[arg-type]
    combined = combine_shard_results(results)
    assert campaign_keys_of(combined) == combined["campaign_key"]
    assert campaign_keys_of(results) == combined["campaign_key"]  # the mapped results as-is
    sensor = HbSmsDeliveryReportSensor(
        task_id="wait", campaign_key=combined, store_url=str(store.engine.url)
    )
    done = sensor.poke(_context())  # type: ignore[arg-type]
    assert done.is_done
    assert (done.xcom_value["total"], done.xcom_value["pending"]) == (1000, 0)
    one = store.reports.summary(combined["campaign_key"][:1])
    assert one.total == shards[0].rows


def test_a_retry_pulls_reports_first_and_settles_a_batch_the_gateway_took(
    simulator, hbsms_conn, store
) -> None:
    """The connection dropped after the gateway processed the batch: the first try fails
    naming it; the retry pulls the delivery reports, settles it as accepted and finishes."""
    from airflow_provider_hbsms import UnsettledBatchesError

    frame = members(1000)
    simulator.inject_fault("close_after_processing", endpoint="/hSmsSend.do", after=2)

    def op() -> HbSmsPersonalizedSendOperator:
        return HbSmsPersonalizedSendOperator(
            task_id="send",
            input=frame,
            template="{name}: {points}",
            store_url=str(store.engine.url),
            on_execute_callback=pull_reports_before_retry,
        )

    first = op()
    with pytest.raises(UnsettledBatchesError) as caught:
        first.execute(_context(first))  # type: ignore[arg-type]
    assert caught.value.batches == [2]
    # Without pulling first, the retry cannot know: it names the batch again.
    plain = op()
    with pytest.raises(UnsettledBatchesError):
        plain.execute(_context(plain, try_number=2))  # type: ignore[arg-type]
    retry = op()
    pull_reports_before_retry(_context(retry, try_number=3))  # type: ignore[arg-type]
    result = retry.execute(_context(retry, try_number=3))  # type: ignore[arg-type]
    assert result["skipped_batches"] == 5
    counts = Counter(m.mobile for m in simulator.received())
    assert len(counts) == 1000
    assert set(counts.values()) == {1}


def test_a_retry_cannot_settle_what_the_gateway_never_processed(
    simulator, hbsms_conn, store
) -> None:
    from airflow_provider_hbsms import UnsettledBatchesError

    simulator.inject_fault("close_before_processing", endpoint="/hSmsSend.do", after=1)
    op = HbSmsPersonalizedSendOperator(
        task_id="send", input=members(600), template="{name}", store_url=str(store.engine.url)
    )
    with pytest.raises(UnsettledBatchesError):
        op.execute(_context(op))  # type: ignore[arg-type]
    pull_reports_before_retry(_context(op, try_number=2))  # type: ignore[arg-type]
    with pytest.raises(UnsettledBatchesError) as again:
        op.execute(_context(op, try_number=2))  # type: ignore[arg-type]
    assert again.value.batches == [1]
    assert len(simulator.received()) == 400  # batches 0 and 2, never batch 1


def test_indexing_behind_a_send_uses_the_time_it_waits(
    simulator_factory, monkeypatch, store
) -> None:
    """Against a gateway that takes its time, the sent messages are indexed while the send
    waits for answers; a process busy with other work is left alone."""
    import time

    from sqlalchemy import func, select

    from airflow_provider_hbsms.store.indexing import IndexBehind
    from airflow_provider_hbsms.store.schema import sent_messages
    from tests.fixtures.simulator import connection_for

    # Whether the machine's cores are saturated is another test's concern (other jobs may load
    # this machine): here only the process's own business counts.
    monkeypatch.setattr("airflow_provider_hbsms.store.indexing.cpu_stalled_seconds", lambda: None)
    slow = simulator_factory(latency_ms=150)  # 15 batches: a send of 2 s or more
    monkeypatch.setenv("AIRFLOW_CONN_HBSMS_DEFAULT", connection_for(slow).as_json())

    def indexed() -> int:
        with store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(sent_messages)).scalar_one())

    op = HbSmsPersonalizedSendOperator(
        task_id="send", input=members(3000), template="{name}", store_url=str(store.engine.url)
    )
    result = op.execute(_context(op))  # type: ignore[arg-type]
    assert result["accepted"] == 3000
    assert indexed() >= 1000  # most batches but the last ones, before any reader asked

    # The engine alone journals without indexing: 5 batches wait for a reader.
    from airflow_provider_hbsms.campaign.engine import Campaign
    from airflow_provider_hbsms.campaign.inputs import row_source
    from airflow_provider_hbsms.campaign.plan import CampaignOptions
    from airflow_provider_hbsms.campaign.spec import MessageSpec
    from airflow_provider_hbsms.hooks.hbsms import HbSmsHook

    spec = MessageSpec("personalized", content_column="name")
    Campaign("journal-only", spec, row_source(members(1000)), CampaignOptions()).send(
        HbSmsHook().client, store.ledger
    )
    before = indexed()
    # busy=-1: the rest of the process always counts as busy
    with IndexBehind(store.engine, busy=-1.0, start_after=0) as standing_back:
        time.sleep(0.5)
    assert (standing_back.indexed, indexed()) == (0, before)
    with IndexBehind(store.engine, start_after=0) as indexer:
        deadline = time.monotonic() + 10
        while indexed() < 4000 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert indexer.indexed == 5
    assert indexed() == 4000
