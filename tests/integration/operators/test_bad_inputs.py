"""Bad or hostile input through the send operator against the simulator: a file with a NUL,
empty inputs, broken files and rejects files that a spreadsheet would run are refused or
neutralized before anything is sent."""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from airflow_provider_hbsms import HbSmsValidationError
from airflow_provider_hbsms.campaign.inputs import InputFileError
from tests.fixtures.operators import context, personalized


def test_a_csv_with_a_nul_is_not_sent(simulator, hbsms_conn, store, tmp_path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"mobile,text\n13900000001,ok\n13900000002,bad\x00text\n")
    op = personalized(str(path), store, template=None, content_column="text")
    with pytest.raises(HbSmsValidationError, match="row 1: content: must not hold control"):
        op.execute(context())
    assert simulator.received() == []


@pytest.mark.parametrize("content", [b"", b"mobile,name,balance\n"], ids=["empty", "header-only"])
def test_an_empty_input_fails_by_default(simulator, hbsms_conn, store, tmp_path, content) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(HbSmsValidationError, match=r"input: file .*empty.csv has no rows"):
        personalized(str(path), store).execute(context())
    result = personalized(str(path), store, on_empty="allow", task_id="allowed").execute(
        context("allowed")
    )
    assert (result["rows"], result["messages"]) == (0, 0)
    assert simulator.received() == []


def test_an_empty_dataframe_fails_by_default(simulator, hbsms_conn, store) -> None:
    with pytest.raises(HbSmsValidationError, match="DataFrame of 0 rows has no rows"):
        personalized(pd.DataFrame({"mobile": [], "name": [], "balance": []}), store).execute(
            context()
        )


def test_a_bad_file_fails_the_task_naming_it(simulator, hbsms_conn, store, tmp_path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"definitely not parquet")
    with pytest.raises(InputFileError, match=r"broken\.parquet: not a readable Parquet file"):
        personalized(str(path), store).execute(context())
    assert simulator.received() == []


def test_the_rejects_file_carries_no_formula(simulator, hbsms_conn, store, tmp_path) -> None:
    frame = pd.DataFrame(
        {
            "mobile": ["13900000001", '=HYPERLINK("http://x")', "@cmd", "+86-bad"],
            "name": ["a", "b", "c", "d"],
            "balance": [1, 2, 3, 4],
        }
    )
    rejects = tmp_path / "rejects.csv"
    op = personalized(frame, store, on_invalid="skip", rejects_path=str(rejects))
    op.execute(context())
    with rejects.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    values = [row[3] for row in rows]
    assert values == ['\'=HYPERLINK("http://x")', "'@cmd", "'+86-bad"]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for cell in r)
