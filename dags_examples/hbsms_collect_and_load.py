"""Every 15 minutes: pull reports and replies into the store, load them into the warehouse.

For accounts in pull mode. The collect task fails when no pull has succeeded for 12 hours, well
before the gateway moves unpulled reports to history (after 3 days).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, dag

from airflow_provider_hbsms.operators.collect import HbSmsCollectOperator
from airflow_provider_hbsms.operators.load import HbSmsLoadToSqlOperator


@dag(
    dag_id="hbsms_collect_and_load",
    schedule=timedelta(minutes=15),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["hbsms", "example"],
)
def hbsms_collect_and_load() -> None:
    # --8<-- [start:collect_and_load]
    collect = HbSmsCollectOperator(task_id="collect", max_lag=timedelta(hours=12))
    load = HbSmsLoadToSqlOperator(
        task_id="load",
        sql_conn_id="hbsms_warehouse",
        outlets=[Asset("hbsms://warehouse/reports")],
    )
    collect >> load
    # --8<-- [end:collect_and_load]


hbsms_collect_and_load()
