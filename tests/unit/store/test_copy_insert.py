"""PostgreSQL takes many rows by COPY: what comes back is what went in, whatever the text holds,
duplicates are ignored as by the VALUES path, and a value the column cannot hold fails as a
bad value (so the caller stores item by item)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg2 import DataError
from sqlalchemy import select

from airflow_provider_hbsms.store import upsert
from airflow_provider_hbsms.store.checks import is_bad_value
from airflow_provider_hbsms.store.schema import reports
from airflow_provider_hbsms.store.upsert import _copy_text, copy_text, insert_ignore_values

if TYPE_CHECKING:
    from airflow_provider_hbsms.store import Store

COLUMNS = (
    "mobile", "msg_id", "sub_seq", "err", "fail_desc", "delivered", "report_time", "corp_id",
    "received_at", "source",
)  # fmt: skip
KEYS = ("mobile", "msg_id", "sub_seq")
AWKWARD = ["tab\there", "new\nline", "back\\slash \\N", "cr\rlf", "", "收到，谢谢", "\\.", "a\\tb"]


def _rows(n: int, start: int = 0) -> list[tuple[object, ...]]:
    when = datetime(2026, 12, 1, 8, 30, 0, 123456, tzinfo=UTC)
    rows = []
    for i in range(start, start + n):
        reported = None if i % 5 == 0 else when
        text = AWKWARD[i % len(AWKWARD)]
        rows.append((f"138{i:08d}", f"m{i}", i % 3, "DB:0140", text, i % 2, reported, "corp"))
    return [(*row, when, "push") for row in rows]


def test_copy_text_escapes_what_copy_reads_specially() -> None:
    assert _copy_text(None) == "\\N"
    assert _copy_text("a\tb\nc\\d\re") == "a\\tb\\nc\\\\d\\re"
    assert _copy_text("plain 收到") == "plain 收到"
    assert (_copy_text(True), _copy_text(7), _copy_text(1.5)) == ("t", "7", "1.5")
    assert _copy_text(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05+00:00"
    with pytest.raises(TypeError):
        _copy_text(b"bytes")


VALUES = st.one_of(
    st.none(),
    st.text(alphabet=st.sampled_from(["a", "收", "\t", "\n", "\r", "\\", "N", "."]), max_size=6),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.datetimes(timezones=st.just(UTC)),
)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=1, max_value=4).flatmap(
        lambda width: st.lists(st.tuples(*[VALUES] * width), max_size=6)
    )
)
def test_copy_text_of_rows_is_each_value_in_its_text_form(rows: list[tuple[object, ...]]) -> None:
    """Rows turned into text column by column read as each value turned by itself: columns of
    one type, of mixed types, with and without characters COPY escapes."""
    assert copy_text(rows) == "".join("\t".join(map(_copy_text, row)) + "\n" for row in rows)


def test_copy_text_refuses_a_value_without_a_text_form() -> None:
    with pytest.raises(TypeError):
        copy_text([("a", 1), ("b", b"bytes")])


@pytest.mark.postgres
def test_many_rows_round_trip_through_copy_and_duplicates_are_ignored(pg_store: Store) -> None:
    rows = _rows(500)
    assert len(rows) >= upsert._COPY_FROM
    with pg_store.engine.begin() as conn:
        assert insert_ignore_values(conn, reports, COLUMNS, rows, KEYS) == 500
        # Again in the same transaction, half old and half new: only the new count.
        again = rows[250:] + _rows(250, start=500)
        assert insert_ignore_values(conn, reports, COLUMNS, again, KEYS) == 250
    with pg_store.engine.connect() as conn:
        stored = conn.execute(
            select(*(reports.c[c] for c in COLUMNS[:8])).order_by(reports.c.id)
        ).all()
    assert len(stored) == 750
    for row, back in zip(rows, stored[:500], strict=True):
        assert tuple(back) == row[:8]


@pytest.mark.postgres
def test_a_value_the_column_cannot_hold_fails_as_a_bad_value(pg_store: Store) -> None:
    rows = _rows(300)
    rows[123] = ("1" * 40, *rows[123][1:])  # mobile is 32 characters at most
    with pytest.raises(DataError) as failed, pg_store.engine.begin() as conn:
        insert_ignore_values(conn, reports, COLUMNS, rows, KEYS)
    assert is_bad_value(failed.value)
    with pg_store.engine.connect() as conn:
        assert conn.execute(select(reports.c.id)).first() is None
