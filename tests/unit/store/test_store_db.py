"""The store's engine and schema on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import inspect

from airflow_provider_hbsms import ValidationProblem
from airflow_provider_hbsms.store.schema import metadata

if TYPE_CHECKING:
    from airflow_provider_hbsms.store import Store


def _check_schema_opt_outs_and_rejects(store: Store) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= tables
    opt_outs = store.opt_outs
    assert opt_outs.add(["13800138000", "13800138001", "13800138000"], source="manual") == 2
    assert opt_outs.add(["13800138001", "13800138002"], source="reply", keyword="TD") == 1
    assert opt_outs.opted_out(["13800138000", "13900000000", "13800138002"]) == {
        "13800138000",
        "13800138002",
    }
    assert opt_outs.remove(["13800138000"]) == 1
    assert opt_outs.all() == {"13800138001", "13800138002"}
    # Rejects: kept a page at a time, and a campaign's next list replaces its last one.
    bad = (ValidationProblem("mobile", "must be 11 digits", "12", row) for row in range(1500))
    assert store.rejects.replace("c", bad) == 1500
    assert len(store.rejects.of("c")) == 1500
    again = [ValidationProblem("content", "empty", "", 9), ValidationProblem("ext", "x", "a", 2)]
    assert store.rejects.replace("c", again) == 2
    assert store.rejects.replace("other", again[:1]) == 1
    assert store.rejects.of("c") == again[::-1]


def test_sqlite_store_schema_opt_outs_and_rejects(store: Store) -> None:
    assert store.engine.dialect.name == "sqlite"
    _check_schema_opt_outs_and_rejects(store)


@pytest.mark.postgres
def test_postgres_store_schema_opt_outs_and_rejects(pg_store: Store) -> None:
    assert pg_store.engine.dialect.name == "postgresql"
    _check_schema_opt_outs_and_rejects(pg_store)
