"""Bad or hostile input: control characters, empty and broken files, rejects files that a
spreadsheet would run, rejects paths that climb out of their folder."""

from __future__ import annotations

import bz2
import csv
import gzip
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from airflow_provider_hbsms.campaign import columnwise
from airflow_provider_hbsms.campaign.inputs import InputFileError, row_source
from airflow_provider_hbsms.campaign.rejects_file import resolve_rejects_path, spreadsheet_safe
from airflow_provider_hbsms.campaign.rows import MessageSpec, RowChecker
from airflow_provider_hbsms.protocol.errors import HbSmsValidationError, InvalidFieldError
from airflow_provider_hbsms.protocol.validation import check_content
from tests.fixtures.operators import context, personalized

if TYPE_CHECKING:
    from pathlib import Path

CONTROLS = ["\x00", "\x1b", "\x7f", "\x08", "\x01", "\x0b", "\x0c", "\x1f"]


@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_control_characters_are_refused_by_the_row_rule(char: str) -> None:
    with pytest.raises(InvalidFieldError, match=f"control characters: U\\+{ord(char):04X}"):
        check_content(f"您好{char}世界")


def test_layout_characters_stay_allowed() -> None:
    assert check_content("第一行\r\n第二行\t完") == "第一行\r\n第二行\t完"


@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_control_characters_are_refused_by_row_on_every_path(char: str) -> None:
    """Column-wise (lists and Arrow) and row-wise checks agree, and name the row."""
    spec = MessageSpec("personalized", content_column="text")
    texts = ["好的", f"含{char}控制符", "再见"]
    mobiles = ["13900000001", "13900000002", "13900000003"]
    assert not columnwise.contents_valid(texts)
    frames = [pd.DataFrame({"mobile": mobiles, "text": texts})]
    arrow = pd.DataFrame(
        {
            "mobile": pd.array(mobiles, dtype="string[pyarrow]"),
            "text": pd.array(texts, dtype="string[pyarrow]"),
        }
    )
    array = columnwise.arrow_strings(arrow["text"])
    assert array is not None
    assert not columnwise.arrow_contents_valid(array)
    frames.append(arrow)
    for frame in frames:
        messages, problems = RowChecker(spec).check(frame, 0)
        assert len(messages) == 2
        assert [(p.row, p.field) for p in problems] == [(1, "content")]
        assert "control characters" in problems[0].rule


def test_a_csv_with_a_nul_is_not_sent(simulator, hbsms_conn, store, tmp_path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"mobile,text\n13900000001,ok\n13900000002,bad\x00text\n")
    op = personalized(str(path), store, template=None, content_column="text")
    with pytest.raises(HbSmsValidationError, match="row 1: content: must not hold control"):
        op.execute(context())
    assert simulator.received() == []


# ------------------------------------------------------------------ empty input


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


# ------------------------------------------------------------------ bad files


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    files = {
        "not-gzip": ("x.csv.gz", b"mobile\n13900000001\n", "not readable gzip-compressed data"),
        "truncated-gzip": (
            "t.csv.gz",
            gzip.compress(b"mobile\n" + b"13900000001\n" * 5000)[:-8],  # trailer cut off
            "not readable gzip-compressed data",
        ),
        "not-bz2": ("x.csv.bz2", b"plain text", "not readable bz2-compressed data"),
        "ragged-csv": (
            "r.csv",
            b'mobile,name\n13900000001,"unclosed\n13900000002,b,c,d\n',
            "not well-formed CSV",
        ),
        "not-parquet": ("x.parquet", b"PAR1 this is no parquet", "not a readable Parquet file"),
        "missing": ("absent.csv", None, "no such file"),
    }
    made = {}
    for name, (file_name, content, problem) in files.items():
        path = tmp_path / file_name
        if content is not None:
            path.write_bytes(content)
        made[name] = (path, problem)
    assert bz2  # the .bz2 case is written above as plain text
    return made


@pytest.mark.parametrize(
    "case",
    ["not-gzip", "truncated-gzip", "not-bz2", "ragged-csv", "not-parquet", "missing"],
)
def test_a_bad_file_names_the_file_and_what_is_wrong(tmp_path, case) -> None:
    path, problem = _bad_files(tmp_path)[case]
    source = row_source(str(path), columns=["mobile"])
    with pytest.raises(InputFileError) as raised:
        for _ in source.chunks():
            pass
    assert str(path) in str(raised.value)
    assert problem in str(raised.value)


def test_a_bad_file_fails_the_task_naming_it(simulator, hbsms_conn, store, tmp_path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"definitely not parquet")
    with pytest.raises(InputFileError, match=r"broken\.parquet: not a readable Parquet file"):
        personalized(str(path), store).execute(context())
    assert simulator.received() == []


# ------------------------------------------------------------------ rejects files


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"])
def test_formula_cells_are_neutralized(cell: str) -> None:
    assert spreadsheet_safe(cell) == "'" + cell
    assert spreadsheet_safe("13900000001") == "13900000001"
    assert spreadsheet_safe(3) == 3


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


@pytest.mark.parametrize("escape", ["../outside.csv", "a/../../outside.csv", "../../etc/x.csv"])
def test_a_relative_rejects_path_cannot_climb_out(tmp_path, monkeypatch, escape) -> None:
    base = tmp_path / "rejects-base"
    monkeypatch.setenv("AIRFLOW__HBSMS__REJECTS_DIR", str(base))
    with pytest.raises(ValueError, match=f"leads out of its base folder {base}"):
        resolve_rejects_path(escape)
    assert not (tmp_path / "outside.csv").exists()


def test_a_link_cannot_lead_a_relative_rejects_path_out(tmp_path, monkeypatch) -> None:
    base = tmp_path / "rejects-base"
    base.mkdir()
    (base / "link").symlink_to(tmp_path)
    monkeypatch.setenv("AIRFLOW__HBSMS__REJECTS_DIR", str(base))
    with pytest.raises(ValueError, match="leads out of its base folder"):
        resolve_rejects_path("link/x.csv")


def test_a_relative_rejects_path_lives_under_the_base(
    simulator, hbsms_conn, store, tmp_path, monkeypatch
) -> None:
    base = tmp_path / "rejects-base"
    monkeypatch.setenv("AIRFLOW__HBSMS__REJECTS_DIR", str(base))
    frame = pd.DataFrame({"mobile": ["13900000001", "bad"], "name": ["a", "b"], "balance": [1, 2]})
    personalized(frame, store, on_invalid="skip", rejects_path="campaigns/r.csv").execute(context())
    assert (base / "campaigns" / "r.csv").read_text().startswith("row,field,rule,value")
    with pytest.raises(ValueError, match="leads out"):
        personalized(frame, store, on_invalid="skip", rejects_path="../r.csv").execute(context())


def test_the_column_rule_finds_exactly_the_row_rule_characters() -> None:
    """The column-wise check looks for control characters in GBK bytes; for every character
    GBK can encode, it agrees with the row rule's pattern."""
    from airflow_provider_hbsms.protocol.validation import CONTROL

    for code in range(0x10000):
        char = chr(code)
        try:
            char.encode("gbk")
        except UnicodeEncodeError:
            continue
        assert columnwise.contents_valid([f"a{char}b"]) != bool(CONTROL.search(char)), hex(code)
