"""The send operators reading their input against the simulator: Parquet files in chunks,
directories of parts in path order, files by URL and ObjectStoragePath, compressed and GBK
files, and every invalid row kept when the campaign fails."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from airflow_provider_hbsms import HbSmsValidationError
from tests.fixtures.operators import RUN, context, customers, personalized


def test_parquet_file_input_is_read_in_chunks(simulator, hbsms_conn, store, tmp_path) -> None:
    path = tmp_path / "recipients.parquet"
    customers(1234).to_parquet(path)
    result = personalized(str(path), store, chunk_rows=100).execute(context())
    assert result["rows"] == result["accepted"] == 1234
    assert len(simulator.received()) == 1234


def test_every_invalid_row_is_kept_when_the_campaign_fails(
    simulator, hbsms_conn, store, tmp_path
) -> None:
    """The error lists the first 20 bad rows; the rejects file (given as a URL here) and the
    store's table get all of them, and a retry replaces them rather than adding more."""
    frame = customers(40)
    frame.loc[::2, "mobile"] = "123"  # 20 bad numbers
    frame.loc[[1, 3, 5], "name"] = ""  # and 3 empty template fields
    rejects = tmp_path / "out" / "rejects.csv"
    for _ in range(2):  # the first try and a retry
        op = personalized(
            frame, store, rejects_path=f"file://{rejects}", store_rejects=True, task_id="bad"
        )
        with pytest.raises(HbSmsValidationError, match="23 invalid"):
            op.execute(context("bad"))
    assert simulator.stats()["requests"] == {}
    written = pd.read_csv(rejects)
    assert len(written) == 23
    assert written.loc[written["row"] == 5, ["field", "rule"]].values.tolist() == [
        ["name", "template field is empty in this row"]
    ]
    kept = store.rejects.of("d/bad/" + RUN)
    assert [(p.row, p.field) for p in kept] == list(
        zip(written["row"], written["field"], strict=True)
    )
    # The data fixed, the next try sends all of it and leaves no stale rejects behind.
    op = personalized(
        customers(40), store, rejects_path=f"file://{rejects}", store_rejects=True, task_id="bad"
    )
    assert op.execute(context("bad"))["accepted"] == 40
    assert pd.read_csv(rejects).empty
    assert store.rejects.of("d/bad/" + RUN) == []


def test_file_inputs_by_url_object_storage_path_compressed_and_gbk(
    simulator, hbsms_conn, store, tmp_path
) -> None:
    from airflow.sdk import ObjectStoragePath

    parquet = tmp_path / "a.parquet"
    customers(30).to_parquet(parquet)
    gzipped = tmp_path / "b.csv.gz"
    customers(30, 30).to_csv(gzipped, index=False, compression="gzip")
    excel = tmp_path / "c.csv"
    customers(30, 60).to_csv(excel, index=False, encoding="gb18030")
    inputs: list[tuple[Any, dict[str, Any]]] = [
        (ObjectStoragePath(f"file://{parquet}"), {}),
        (f"file://{gzipped}", {}),
        (str(excel), {"csv_encoding": "gb18030"}),
    ]
    for number, (source, options) in enumerate(inputs):
        op = personalized(source, store, task_id=f"send{number}", **options)
        assert op.execute(context(f"send{number}"))["accepted"] == 30
    received = {m.mobile: m.content for m in simulator.received()}
    assert len(received) == 90
    assert received["13900000075"] == "尊敬的客户75，您的余额为112.5元"
    # Without its encoding, a GB18030 file is refused by name, before anything is sent.
    with pytest.raises(ValueError, match=r"c\.csv: not utf-8 text.*csv_encoding"):
        personalized(str(excel), store, task_id="wrong").execute(context("wrong"))
    assert len(simulator.received()) == 90


def test_a_directory_of_parquet_parts_is_read_in_path_order(
    simulator, hbsms_conn, store, tmp_path
) -> None:
    """As Spark writes them: part files, a partition subdirectory, and files that are not data."""
    folder = tmp_path / "recipients"
    (folder / "day=2026-11-25").mkdir(parents=True)
    customers(50, 200).to_parquet(folder / "day=2026-11-25" / "part-00002.parquet")
    customers(100, 100).to_parquet(folder / "part-00001.parquet")
    customers(100, 0).to_parquet(folder / "part-00000.parquet")
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-00000.parquet.crc").write_text("not parquet")
    result = personalized(str(folder), store, chunk_rows=40).execute(context())
    assert result["rows"] == result["accepted"] == 250
    row_of = {m.mobile: int(m.msg_id.rsplit("-", 1)[1]) for m in simulator.received()}
    # Sorted by path: the subdirectory's part, then part-00000, then part-00001.
    assert [row_of[f"139{i:08d}"] for i in (200, 249, 0, 99, 100, 199)] == [
        0,
        49,
        50,
        149,
        150,
        249,
    ]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no data files"):
        personalized(str(tmp_path / "empty"), store, task_id="none").execute(context("none"))
