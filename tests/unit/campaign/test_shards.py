"""Sharding a campaign: by normalized number, deterministic, streamed; the shards' sends and
their combined delivery wait."""

from __future__ import annotations

import threading
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from airflow_provider_hbsms.campaign.shards import shard_name, shard_of, split_into_shards
from airflow_provider_hbsms.operators.send import HbSmsPersonalizedSendOperator, HbSmsSendOperator
from airflow_provider_hbsms.operators.shards import combine_shard_results, pull_reports_before_retry
from airflow_provider_hbsms.sensors.delivery import HbSmsDeliveryReportSensor
from airflow_provider_hbsms.waiting import campaign_keys_of

RUN = "manual__2026-11-25T00:00:00+00:00"


def _context(task: Any = None, map_index: int = -1, try_number: int = 1) -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id="d", task_id="send", run_id=RUN, map_index=map_index, try_number=try_number
    )
    return {"ti": ti, "task": task}


def test_a_number_has_one_shard_however_it_is_written() -> None:
    forms = ["13912345678", "+86 139-1234-5678", "0086 139 1234 5678", "8613912345678"]
    assert len(set(shard_of(forms, 16).tolist())) == 1
    assert shard_of([13912345678], 16).tolist() == shard_of(["13912345678"], 16).tolist()
    assert (
        shard_of(pd.Series(forms, dtype="string[pyarrow]"), 16).tolist()
        == [shard_of(forms, 16)[0]] * 4
    )


def test_shards_are_balanced_and_stable() -> None:
    numbers = [f"139{i:08d}" for i in range(40_000)]  # sequential: the worst case for modulo
    shards = shard_of(numbers, 8)
    sizes = Counter(shards.tolist())
    assert set(sizes) == set(range(8))
    assert max(sizes.values()) / min(sizes.values()) < 1.1
    # Fixed for ever: shards of an input split by an earlier version must not move.
    assert shard_of(["13900000000", "13800138000", "18612345678"], 8).tolist() == [
        *shard_of(["13900000000"], 8).tolist(),
        *shard_of(["13800138000"], 8).tolist(),
        *shard_of(["18612345678"], 8).tolist(),
    ]


def test_invalid_values_still_get_a_shard() -> None:
    shards = shard_of(["12345", None, "not a number", 3.5, "13912345678"], 4)
    assert len(shards) == 5
    assert all(0 <= s < 4 for s in shards.tolist())
    assert shard_of(["12345"], 4).tolist() == shard_of(["12345"], 4).tolist()


@pytest.mark.parametrize("bad", [0, -1, 10_001, 2.0, True])
def test_shard_count_is_checked(bad: Any) -> None:
    with pytest.raises(ValueError, match="shards must be an integer"):
        shard_of(["13912345678"], bad)


def _input(n: int, start: int = 0) -> pd.DataFrame:
    stop = start + n
    return pd.DataFrame(
        {
            "mobile": [f"+86 139-{i // 10000:04d}-{i % 10000:04d}" for i in range(start, stop)],
            "name": [f"会员{i}" for i in range(start, start + n)],
            "points": list(range(start, start + n)),
        }
    )


def test_split_streams_a_parquet_directory_into_shards_in_input_order(tmp_path) -> None:
    folder = tmp_path / "input"
    folder.mkdir()
    _input(3000).to_parquet(folder / "part-0.parquet")
    _input(2000, 3000).to_parquet(folder / "part-1.parquet")
    written = split_into_shards(str(folder), tmp_path / "out", 4, chunk_rows=700)
    assert [s.index for s in written] == [0, 1, 2, 3]
    assert [s.path.rsplit("/", 1)[1] for s in written] == [shard_name(i, 4) for i in range(4)]
    assert sum(s.rows for s in written) == 5000
    frames = [pq.read_table(s.path).to_pandas() for s in written]
    for index, frame in enumerate(frames):
        assert list(frame.columns) == ["mobile", "name", "points"]
        assert frame["points"].is_monotonic_increasing  # input order kept
        assert set(shard_of(frame["mobile"].tolist(), 4).tolist()) == {index}
    assert sorted(pd.concat(frames)["points"]) == list(range(5000))
    # The same input, the same shards, byte for byte (a retried split must not move rows).
    again = split_into_shards(str(folder), tmp_path / "again", 4, chunk_rows=1300)
    for first, second in zip(written, again, strict=True):
        assert pq.read_table(first.path).equals(pq.read_table(second.path))
    assert not list((tmp_path / "out").glob(".*"))  # no half-written files left


def test_split_gives_empty_shards_a_file_and_names_a_missing_column(tmp_path) -> None:
    written = split_into_shards(_input(3), tmp_path / "few", 8)
    assert len(written) == 8
    assert sum(s.rows for s in written) == 3
    assert pq.read_table(written[0].path).schema.names == ["mobile", "name", "points"]
    with pytest.raises(ValueError, match="no column 'phone'"):
        split_into_shards(_input(3), tmp_path / "bad", 2, mobile_column="phone")
    assert not list((tmp_path / "bad").glob("*"))
    assert split_into_shards(_input(0), tmp_path / "none", 2) == []


def test_split_takes_chunks_from_a_query(tmp_path) -> None:
    chunks = (_input(500, s) for s in range(0, 2000, 500))  # pandas.read_sql(chunksize=...)
    written = split_into_shards(chunks, tmp_path / "sql", 3)
    assert sum(s.rows for s in written) == 2000


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
    shards = split_into_shards(_input(1000), tmp_path / "shards", 4)
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
    from airflow_provider_hbsms.campaign.engine import UnknownOutcomeError

    frame = _input(1000)
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
    with pytest.raises(UnknownOutcomeError) as caught:
        first.execute(_context(first))  # type: ignore[arg-type]
    assert caught.value.batches == [2]
    # Without pulling first, the retry cannot know: it names the batch again.
    plain = op()
    with pytest.raises(UnknownOutcomeError):
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
    from airflow_provider_hbsms.campaign.engine import UnknownOutcomeError

    simulator.inject_fault("close_before_processing", endpoint="/hSmsSend.do", after=1)
    op = HbSmsPersonalizedSendOperator(
        task_id="send", input=_input(600), template="{name}", store_url=str(store.engine.url)
    )
    with pytest.raises(UnknownOutcomeError):
        op.execute(_context(op))  # type: ignore[arg-type]
    pull_reports_before_retry(_context(op, try_number=2))  # type: ignore[arg-type]
    with pytest.raises(UnknownOutcomeError) as again:
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

    slow = simulator_factory(latency_ms=150)  # 15 batches: a send of 2 s or more
    monkeypatch.setenv("AIRFLOW_CONN_HBSMS_DEFAULT", connection_for(slow).as_json())

    def indexed() -> int:
        with store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(sent_messages)).scalar_one())

    op = HbSmsPersonalizedSendOperator(
        task_id="send", input=_input(3000), template="{name}", store_url=str(store.engine.url)
    )
    result = op.execute(_context(op))  # type: ignore[arg-type]
    assert result["accepted"] == 3000
    assert indexed() >= 1000  # most batches but the last ones, before any reader asked

    # The engine alone journals without indexing: 5 batches wait for a reader.
    from airflow_provider_hbsms.campaign.engine import Campaign, CampaignOptions
    from airflow_provider_hbsms.campaign.inputs import row_source
    from airflow_provider_hbsms.campaign.rows import MessageSpec
    from airflow_provider_hbsms.hooks.hbsms import HbSmsHook

    spec = MessageSpec("personalized", content_column="name")
    Campaign("journal-only", spec, row_source(_input(1000)), CampaignOptions()).send(
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
