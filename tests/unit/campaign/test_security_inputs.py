"""Bad or hostile input: control characters, broken files, rejects files that a spreadsheet
would run, rejects paths that climb out of their folder (the send operator meeting them is in
tests/integration/operators/test_bad_inputs.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from airflow_provider_hbsms import InputFileError, InvalidFieldError
from airflow_provider_hbsms.campaign import columnwise
from airflow_provider_hbsms.campaign.arrow import arrow_contents_valid, arrow_strings
from airflow_provider_hbsms.campaign.inputs import row_source
from airflow_provider_hbsms.campaign.rejects_file import resolve_rejects_path, spreadsheet_safe
from airflow_provider_hbsms.campaign.rows import RowChecker
from airflow_provider_hbsms.campaign.spec import MessageSpec
from airflow_provider_hbsms.protocol.validation import check_content
from tests.fixtures.operators import bad_files, context, personalized

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
    array = arrow_strings(arrow["text"])
    assert array is not None
    assert not arrow_contents_valid(array)
    frames.append(arrow)
    for frame in frames:
        messages, problems = RowChecker(spec).check(frame, 0)
        assert len(messages) == 2
        assert [(p.row, p.field) for p in problems] == [(1, "content")]
        assert "control characters" in problems[0].rule


# ------------------------------------------------------------------ bad files


@pytest.mark.parametrize(
    "case",
    ["not-gzip", "truncated-gzip", "not-bz2", "ragged-csv", "not-parquet", "missing"],
)
def test_a_bad_file_names_the_file_and_what_is_wrong(tmp_path, case) -> None:
    path, problem = bad_files(tmp_path)[case]
    source = row_source(str(path), columns=["mobile"])
    with pytest.raises(InputFileError) as raised:
        for _ in source.chunks():
            pass
    assert str(path) in str(raised.value)
    assert problem in str(raised.value)


# ------------------------------------------------------------------ rejects files


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"])
def test_formula_cells_are_neutralized(cell: str) -> None:
    assert spreadsheet_safe(cell) == "'" + cell
    assert spreadsheet_safe("13900000001") == "13900000001"
    assert spreadsheet_safe(3) == 3


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
