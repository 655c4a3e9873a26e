"""The column-wise validation of a chunk agrees with the row-by-row one on every input: the
same messages when all rows are valid, the same problems (row, field, rule) when some are not."""

from __future__ import annotations

import math

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_hbsms.campaign.rows import Messages, MessageSpec, RowChecker
from airflow_provider_hbsms.protocol import ValidationProblem

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
    assert valid._columns() == expected._columns()


def test_a_valid_chunk_of_strings_needs_no_message_objects() -> None:
    chunk = pd.DataFrame({"mobile": ["13800138000", "13900139000"], "text": ["你好", "再见"]})
    checker = RowChecker(MessageSpec("personalized", content_column="text"))
    assert checker._all_valid({c: chunk[c].tolist() for c in checker.columns}, 0) is not None
    valid, problems = checker.check(chunk, 0)
    assert (valid.mobiles, valid.contents, valid.segments, problems) == (
        ["13800138000", "13900139000"],
        ["你好", "再见"],
        [1, 1],
        [],
    )
