"""A large campaign sent in shards by mapped tasks, on as many workers as there are.

recipients (a Parquet directory) -> split into N shards by a hash of each normalized number ->
one personalized send per shard (``.partial(...).expand(...)``, each its own campaign key, all
in the shared store) -> the shards' results combined -> one deferrable sensor waits for the
delivery of the whole campaign -> the warehouse is loaded.

A number always lands in one shard, however it was written, so de-duplication and opt-outs
hold campaign-wide. A retried shard skips what it sent; a batch a lost worker left with an
unknown outcome is settled from the delivery reports pulled before the retry, or the shard
fails naming it (docs/sending.md, docs/deployment.md).

Run it with a store every worker reaches (``[hbsms] store_conn_id`` pointing at PostgreSQL)
and a shard directory every worker reads (``HBSMS_SHARD_DIR``: a shared disk, or a URL such
as ``s3://bucket/hbsms-shards``). Params: ``input`` (a Parquet/CSV path or URL; empty: a demo
input of ``rows`` generated rows) and ``shards``. Each shard keeps one request in flight, as
the vendor advises (docs/deployment.md: sizing shards and connections to the account).
Connections: ``hbsms_default`` (the gateway) and ``hbsms_warehouse`` (any common-sql database).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Asset, dag, task

from airflow_provider_hbsms.operators.load import HbSmsLoadToSqlOperator
from airflow_provider_hbsms.operators.send import HbSmsPersonalizedSendOperator
from airflow_provider_hbsms.operators.shards import (
    combine_shard_results,
    pull_reports_before_retry,
)
from airflow_provider_hbsms.sensors.delivery import HbSmsDeliveryReportSensor

WAREHOUSE_REPORTS = Asset("hbsms://warehouse/reports")


def _shard_root() -> str:
    home = os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))
    return os.environ.get("HBSMS_SHARD_DIR", os.path.join(home, "hbsms-shards"))


@dag(
    dag_id="hbsms_sharded_campaign",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["hbsms", "example"],
    max_active_tasks=16,
    default_args={"retries": 3, "retry_delay": timedelta(seconds=5)},
    params={"input": "", "rows": 20_000, "shards": 4},
)
def hbsms_sharded_campaign() -> None:
    @task
    def recipients(**context: Any) -> str:
        """The campaign's input: ``params.input``, or a demo Parquet directory of two parts."""
        params = context["params"]
        if params["input"]:
            return str(params["input"])
        import pandas as pd

        folder = os.path.join(_shard_root(), context["run_id"].replace(":", "_"), "input")
        os.makedirs(folder, exist_ok=True)
        rows = int(params["rows"])
        half = rows // 2
        for part, (start, stop) in enumerate(((0, half), (half, rows))):
            pd.DataFrame(
                {
                    "mobile": [
                        f"+86 139-{i // 10000:04d}-{i % 10000:04d}" for i in range(start, stop)
                    ],
                    "name": [f"会员{i}" for i in range(start, stop)],
                    "points": [i % 5000 for i in range(start, stop)],
                }
            ).to_parquet(os.path.join(folder, f"part-{part:05d}.parquet"))
        return folder

    @task
    def split(source: str, **context: Any) -> list[str]:
        """Shard files by a hash of the normalized number: the same input, the same shards."""
        from airflow_provider_hbsms.campaign.shards import split_into_shards

        out = os.path.join(_shard_root(), context["run_id"].replace(":", "_"), "shards")
        shards = split_into_shards(source, out, int(context["params"]["shards"]))
        return [shard.path for shard in shards]

    send = HbSmsPersonalizedSendOperator.partial(
        task_id="send_shard",
        template="尊敬的{name}，您的积分为{points}分，月底清零前请及时兑换。退订回TD",
        ext="66",
        send_window=("00:00", "23:59"),
        on_execute_callback=pull_reports_before_retry,
    ).expand(input=split(recipients()))

    @task
    def campaign(results: Any) -> dict[str, Any]:
        """The shards' results as one campaign: their keys and summed counts."""
        return combine_shard_results(results)

    delivered = HbSmsDeliveryReportSensor(
        task_id="wait_for_delivery",
        campaign_key=campaign(send.output),
        deferrable=True,
        poke_interval=5,
        timeout=3600,
    )

    load = HbSmsLoadToSqlOperator(
        task_id="load_to_warehouse", sql_conn_id="hbsms_warehouse", outlets=[WAREHOUSE_REPORTS]
    )

    delivered >> load


hbsms_sharded_campaign()
