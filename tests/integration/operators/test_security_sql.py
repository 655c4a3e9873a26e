"""Warehouse names given by users never carry SQL: validated as identifiers, quoted by dialect."""

from __future__ import annotations

import sqlite3

import pytest
from airflow.sdk import Connection

from airflow_provider_hbsms.operators.load import (
    HbSmsLoadToSqlOperator,
)
from tests.fixtures.database import register_postgres_warehouse
from tests.fixtures.inputs import INJECTIONS
from tests.fixtures.operators import context, fill_store


def _sqlite_warehouse(tmp_path, monkeypatch) -> str:
    warehouse = tmp_path / "wh.db"
    with sqlite3.connect(warehouse) as db:
        db.execute("create table victim (secret text)")
        db.execute("create table private (secret text)")
        db.execute("insert into victim values ('keep me')")
        db.execute("insert into private values ('private')")
    monkeypatch.setenv(
        "AIRFLOW_CONN_WH",
        Connection(conn_id="wh", conn_type="sqlite", host=str(warehouse)).as_json(),
    )
    return str(warehouse)


@pytest.mark.parametrize("prefix", INJECTIONS[:4])
def test_an_injected_prefix_touches_nothing_on_sqlite(
    simulator, hbsms_conn, store, tmp_path, monkeypatch, prefix
) -> None:
    fill_store(simulator, store, 3)
    warehouse = _sqlite_warehouse(tmp_path, monkeypatch)
    op = HbSmsLoadToSqlOperator(
        task_id="load", sql_conn_id="wh", store_url=str(store.engine.url), table_prefix=prefix
    )
    with pytest.raises(ValueError, match=r"table_prefix .* not a plain SQL identifier"):
        op.execute(context("load"))
    with sqlite3.connect(warehouse) as db:
        tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
        assert db.execute("select secret from victim").fetchall() == [("keep me",)]
    assert tables == {"victim", "private"}


def test_a_mixed_case_prefix_and_a_keyword_are_quoted(
    simulator, hbsms_conn, store, tmp_path, monkeypatch
) -> None:
    fill_store(simulator, store, 3)
    warehouse = _sqlite_warehouse(tmp_path, monkeypatch)
    op = HbSmsLoadToSqlOperator(
        task_id="load", sql_conn_id="wh", store_url=str(store.engine.url), table_prefix="Order_"
    )
    assert op.execute(context("load"))["reports"] == 3
    with sqlite3.connect(warehouse) as db:
        assert db.execute('select count(*) from "Order_reports"').fetchone() == (3,)


def _pg_warehouse(postgres_url: str, monkeypatch) -> tuple[str, object]:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    schema = register_postgres_warehouse(postgres_url, monkeypatch)
    hook = PostgresHook(postgres_conn_id="pgwh")
    hook.run("create table victim (secret text); insert into victim values ('keep me')")
    return schema, hook


@pytest.mark.postgres
@pytest.mark.parametrize("field", ["table_prefix", "schema"])
@pytest.mark.parametrize("value", INJECTIONS[:3])
def test_an_injected_name_touches_nothing_on_postgres(
    simulator, hbsms_conn, store, postgres_url, monkeypatch, field, value
) -> None:
    fill_store(simulator, store, 3)
    _, hook = _pg_warehouse(postgres_url, monkeypatch)
    op = HbSmsLoadToSqlOperator(
        task_id="load", sql_conn_id="pgwh", store_url=str(store.engine.url), **{field: value}
    )
    with pytest.raises(ValueError, match=rf"{field} .* not a plain SQL identifier"):
        op.execute(context("load"))
    assert hook.get_records("select secret from victim") == [("keep me",)]  # type: ignore[attr-defined]
    tables = hook.get_records(  # type: ignore[attr-defined]
        "select table_name from information_schema.tables where table_schema = current_schema()"
    )
    assert tables == [("victim",)]


@pytest.mark.postgres
def test_a_schema_is_quoted_on_postgres(
    simulator, hbsms_conn, store, postgres_url, monkeypatch
) -> None:
    fill_store(simulator, store, 3)
    schema, hook = _pg_warehouse(postgres_url, monkeypatch)
    op = HbSmsLoadToSqlOperator(
        task_id="load",
        sql_conn_id="pgwh",
        store_url=str(store.engine.url),
        schema=schema,
        table_prefix="Wh_",
    )
    assert op.execute(context("load")) == {"reports": 3, "replies": 2, "statuses": 3}
    assert hook.get_first(f'select count(*) from "{schema}"."Wh_reports"') == (3,)  # type: ignore[attr-defined]
