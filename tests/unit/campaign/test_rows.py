"""The column-wise validation of a chunk agrees with the row-by-row one on every input: the
same messages when all rows are valid, the same problems (row, field, rule) when some are not."""

from __future__ import annotations

import math

import pandas as pd
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_hbsms import ValidationProblem
from airflow_provider_hbsms.campaign.messages import Messages
from airflow_provider_hbsms.campaign.rows import RowChecker
from airflow_provider_hbsms.campaign.spec import MessageSpec

MOBILES = st.one_of(
    st.sampled_from(["13800138000", "19912345678", "+86 138-0013-8001", "12345", "", " "]),
    st.integers(min_value=13_000_000_000, max_value=19_999_999_999),
    st.sampled_from([13800138000.0, 1.5, math.nan, None, True]),
    st.from_regex(r"1[0-9]{10}", fullmatch=True),
)
TEXTS = st.one_of(
    st.sampled_from(["您好", "smile 😀", "a&group&b", "a&split&b", "", "   ", "x" * 1001, "ok"]),
    st.text(alphabet="尊敬的客户您好abc &%+=\n", min_size=0, max_size=80),
    st.sampled_from([None, math.nan, 12, 3.5]),
)
EXTS = st.one_of(
    st.sampled_from(["", "12", "123456789012345678901", "ab", None]), st.integers(0, 99)
)
IDS = st.one_of(st.sampled_from(["m-1", "has space", "a&b", "", "x" * 51, None]), st.integers(0, 9))


def _rows(draw_values: list[tuple[object, object, object, object]]) -> pd.DataFrame:
    mobile, text, ext, msg_id = zip(*draw_values, strict=True) if draw_values else ([], [], [], [])
    return pd.DataFrame(
        {"mobile": list(mobile), "text": list(text), "ext": list(ext), "id": list(msg_id)},
        dtype=object,
    )


def _one_by_one(checker: RowChecker, chunk: pd.DataFrame) -> tuple[Messages, list[str]]:
    messages, problems = [], []
    for item in checker.messages(chunk, 10):
        if isinstance(item, ValidationProblem):
            problems.append(item.describe())
        else:
            messages.append(item)
    return Messages.of(messages), problems


SPECS = [
    MessageSpec("personalized", content_column="text"),
    MessageSpec("personalized", content_column="text", ext_column="ext", msg_id_column="id"),
    MessageSpec("personalized", template="尊敬的{text}，编号{id}"),
    MessageSpec("bulk", content="明天停水", ext="9"),
]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.sampled_from(range(len(SPECS))),
    st.lists(st.tuples(MOBILES, TEXTS, EXTS, IDS), max_size=12),
    st.booleans(),
)
def test_column_wise_check_equals_row_by_row(spec_no: int, values: list, valid_only: bool) -> None:
    checker = RowChecker(SPECS[spec_no])
    chunk = _rows(values)
    expected, expected_problems = _one_by_one(checker, chunk)
    if valid_only:  # the common case: every row valid, which takes the column-wise path
        chunk = chunk.iloc[[row - 10 for row in expected.rows]]
        expected, expected_problems = _one_by_one(checker, chunk)
    valid, problems = checker.check(chunk, 10)
    assert [p.describe() for p in problems] == expected_problems
    assert valid.as_lists()._columns() == expected.as_lists()._columns()


ARROW_TEXTS = st.one_of(
    st.sampled_from(
        ["您好", "smile 😀", "a&group&b", "", "   ", "\x1c\u3000", "x" * 1001, "\u200b"]
    ),
    st.text(alphabet="尊敬的客户您好abc &%+=\n\u00a0𠀀€", min_size=0, max_size=80),
)
ARROW_MOBILES = st.one_of(
    st.sampled_from(["13800138000", "+86 138-0013-8001", "138٠٠138000", "12345", ""]),
    st.from_regex(r"1[0-9]{10}", fullmatch=True),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(st.tuples(ARROW_MOBILES, ARROW_TEXTS), max_size=12),
    st.sampled_from(["", "【示例】"]),
    st.booleans(),
)
def test_arrow_column_check_equals_row_by_row(
    values: list, signature: str, valid_only: bool
) -> None:
    """Text columns pandas keeps in Arrow are checked with Arrow kernels: same verdicts."""
    checker = RowChecker(MessageSpec("personalized", content_column="text", signature=signature))
    mobiles, texts = zip(*values, strict=True) if values else ((), ())
    chunk = pd.DataFrame(
        {
            "mobile": pd.array(list(mobiles), dtype=pd.ArrowDtype(pa.large_string())),
            "text": pd.array(list(texts), dtype=pd.ArrowDtype(pa.large_string())),
        }
    )
    expected, expected_problems = _one_by_one(checker, chunk)
    if valid_only:  # keep the valid rows: the Arrow path must accept exactly these
        chunk = chunk.iloc[[row - 10 for row in expected.rows]]
        expected, expected_problems = _one_by_one(checker, chunk)
    valid, problems = checker.check(chunk, 10)
    assert [p.describe() for p in problems] == expected_problems
    assert valid.as_lists()._columns() == expected.as_lists()._columns()
    normal_form = list(chunk["mobile"]) == expected.as_lists().mobiles
    if valid_only and normal_form and len(valid):  # nothing to normalize: Arrow all along
        assert isinstance(valid.mobiles, pa.Array)


def test_a_valid_chunk_of_strings_needs_no_message_objects() -> None:
    chunk = pd.DataFrame(
        {"mobile": ["13800138000", "13900139000"], "text": ["你好", "再见"]}, dtype="str"
    )
    checker = RowChecker(MessageSpec("personalized", content_column="text"))
    valid, problems = checker.check(chunk, 0)
    assert isinstance(valid.mobiles, pa.Array)  # kept in Arrow until a batch needs them
    valid = valid.as_lists()
    assert (valid.mobiles, valid.contents, valid.segments, problems) == (
        ["13800138000", "13900139000"],
        ["你好", "再见"],
        [1, 1],
        [],
    )


def test_templates_take_format_specs_over_the_rows_own_values() -> None:
    frame = pd.DataFrame(
        {
            "mobile": ["13800138000", "13800138001"],
            "amount": [3.0, 12.345],
            "due": pd.to_datetime(["2026-12-01", "2026-12-15"]),
        }
    )
    checker = RowChecker(MessageSpec("personalized", template="{amount:.2f}元，{due:%m月%d日}到期"))
    valid, problems = checker.check(frame, 0)
    assert problems == []
    assert valid.as_lists().contents == ["3.00元，12月01日到期", "12.35元，12月15日到期"]
    wrong = RowChecker(MessageSpec("personalized", template="{amount:%m}"))
    _, problems = wrong.check(frame, 0)
    assert [(p.row, p.field) for p in problems] == [(0, "template"), (1, "template")]
