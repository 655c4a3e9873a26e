"""Loading reports, statuses and replies into warehouse tables: incremental and idempotent."""

from __future__ import annotations

import sqlite3

import pytest
from airflow.sdk import Asset, Connection

from airflow_provider_hbsms.collector import Collector
from airflow_provider_hbsms.hooks.hbsms import HbSmsHook
from airflow_provider_hbsms.operators.load import HbSmsLoadToSqlOperator
from tests.fixtures.database import register_postgres_warehouse
from tests.fixtures.operators import context, fill_store


class _Events(dict):
    def __missing__(self, key):
        value = self[key] = type("Event", (), {"extra": {}})()
        return value


def test_load_into_sqlite_twice_without_duplicates(
    simulator, hbsms_conn, store, tmp_path, monkeypatch
):
    fill_store(simulator, store)
    warehouse = tmp_path / "wh.db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_WH",
        Connection(conn_id="wh", conn_type="sqlite", host=str(warehouse)).as_json(),
    )
    asset = Asset("hbsms://warehouse/reports")
    op = HbSmsLoadToSqlOperator(
        task_id="load", sql_conn_id="wh", store_url=str(store.engine.url), outlets=[asset]
    )
    ctx = {**context("load"), "outlet_events": _Events()}
    first = op.execute(ctx)
    assert first == {"reports": 30, "replies": 2, "statuses": 30}
    assert ctx["outlet_events"][asset].extra == first
    second = op.execute(ctx)
    assert second == {"reports": 0, "replies": 0, "statuses": 0}
    with sqlite3.connect(warehouse) as db:
        counts = {
            t: db.execute(f"select count(*) from hbsms_{t}").fetchone()[0]
            for t in ("reports", "replies", "message_status")
        }
        statuses = dict(
            db.execute("select status, count(*) from hbsms_message_status group by status")
        )
    assert counts == {"reports": 30, "replies": 2, "message_status": 30}
    assert statuses == {"delivered": 30}
    # New data arrives: only it is added.
    simulator.inject_reply("13600000003", "好", "5")
    Collector(HbSmsHook().client, store).drain_replies()
    assert op.execute(ctx)["replies"] == 1


@pytest.mark.postgres
def test_load_into_postgres_twice_without_duplicates(
    simulator, hbsms_conn, store, postgres_url, monkeypatch
) -> None:
    fill_store(simulator, store)
    register_postgres_warehouse(postgres_url, monkeypatch)
    op = HbSmsLoadToSqlOperator(task_id="load", sql_conn_id="pgwh", store_url=str(store.engine.url))
    assert op.execute(context("load")) == {"reports": 30, "replies": 2, "statuses": 30}
    assert op.execute(context("load")) == {"reports": 0, "replies": 0, "statuses": 0}
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = PostgresHook(postgres_conn_id="pgwh")
    for table, expected in (
        ("hbsms_reports", 30),
        ("hbsms_replies", 2),
        ("hbsms_message_status", 30),
    ):
        assert hook.get_first(f"select count(*) from {table}")[0] == expected
    dupes = hook.get_first(
        "select count(*) from (select mobile, msg_id, sub_seq from hbsms_reports "
        "group by 1, 2, 3 having count(*) > 1) d"
    )[0]
    assert dupes == 0
