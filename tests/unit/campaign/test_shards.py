"""Sharding a campaign: by normalized number, deterministic, streamed (the shards' sends and
their combined delivery wait are in tests/integration/operators/test_shard_sends.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from airflow_provider_hbsms.campaign.shards import shard_name, shard_of, split_into_shards
from tests.fixtures.inputs import members


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


def test_split_streams_a_parquet_directory_into_shards_in_input_order(tmp_path) -> None:
    folder = tmp_path / "input"
    folder.mkdir()
    members(3000).to_parquet(folder / "part-0.parquet")
    members(2000, 3000).to_parquet(folder / "part-1.parquet")
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
    written = split_into_shards(members(3), tmp_path / "few", 8)
    assert len(written) == 8
    assert sum(s.rows for s in written) == 3
    assert pq.read_table(written[0].path).schema.names == ["mobile", "name", "points"]
    with pytest.raises(ValueError, match="no column 'phone'"):
        split_into_shards(members(3), tmp_path / "bad", 2, mobile_column="phone")
    assert not list((tmp_path / "bad").glob("*"))
    assert split_into_shards(members(0), tmp_path / "none", 2) == []


def test_split_takes_chunks_from_a_query(tmp_path) -> None:
    chunks = (members(500, s) for s in range(0, 2000, 500))  # pandas.read_sql(chunksize=...)
    written = split_into_shards(chunks, tmp_path / "sql", 3)
    assert sum(s.rows for s in written) == 2000
