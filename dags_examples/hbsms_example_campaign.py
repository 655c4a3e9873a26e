"""The example campaign, end to end: recipients -> personalized send -> delivery -> warehouse.

An upstream task builds the recipients (here a small table; in practice a query or a data
job's output) and writes them to a Parquet file, handing on only its path: recipients' numbers
and names then stay out of XCom and the metadata database. The personalized send texts each
of them exactly once across retries, a deferrable sensor waits for the delivery reports
(pulling them into the store), the replies are pulled (opt-outs land on the opt-out list),
the loader copies reports, per-message statuses and replies into the warehouse connection
``hbsms_warehouse``, and the campaign's report (a self-contained HTML page and a PNG of the
funnel) is written under ``$AIRFLOW_HOME/hbsms_reports``.

Connections: ``hbsms_default`` (the gateway) and ``hbsms_warehouse`` (any common-sql database).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import Asset, dag, task

from airflow_provider_hbsms.operators.collect import HbSmsCollectOperator
from airflow_provider_hbsms.operators.load import HbSmsLoadToSqlOperator
from airflow_provider_hbsms.operators.report import HbSmsCampaignReportOperator
from airflow_provider_hbsms.operators.send import HbSmsPersonalizedSendOperator
from airflow_provider_hbsms.sensors.delivery import HbSmsDeliveryReportSensor
from airflow_provider_hbsms.sensors.reply import HbSmsReplySensor

WAREHOUSE_REPORTS = Asset("hbsms://warehouse/reports")


@dag(
    dag_id="hbsms_example_campaign",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["hbsms", "example"],
    default_args={"retries": 2},
)
def hbsms_example_campaign() -> None:
    @task
    def recipients(run_id: str | None = None) -> str:
        """The customers to remind, with the fields their texts need, as a Parquet file; the
        path goes on by XCom (in production: object storage, e.g. ``s3://bucket/...``)."""
        import pandas as pd

        names = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强"]
        frame = pd.DataFrame(
            {
                "mobile": [f"+86 139-{i:04d}-{i * 7 % 10000:04d}" for i in range(1, 41)],
                "name": [names[i % len(names)] for i in range(40)],
                "amount": [f"{50 + i * 12.5:.2f}" for i in range(40)],
                "due": ["12月5日"] * 40,
            }
        )
        home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
        safe_run = "".join(c if c.isalnum() or c in "-_" else "_" for c in run_id or "manual")
        path = home / "hbsms" / "inputs" / f"reminders-{safe_run}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
        return str(path)

    # --8<-- [start:send]
    send = HbSmsPersonalizedSendOperator(
        task_id="send_reminders",
        input=recipients(),
        template="尊敬的{name}，您本期账单{amount}元将于{due}到期，请按时还款。退订回TD",
        ext="88",
        send_window=("00:00", "23:59"),
    )
    # --8<-- [end:send]

    # --8<-- [start:delivery_sensor]
    delivered = HbSmsDeliveryReportSensor(
        task_id="wait_for_delivery",
        campaign_key=send.output,
        deferrable=True,
        poke_interval=2,
        timeout=300,
    )
    # --8<-- [end:delivery_sensor]

    # --8<-- [start:reply_sensor]
    first_answer = HbSmsReplySensor(
        task_id="wait_for_an_answer",
        campaign_key=send.output,  # replies to this campaign's messages only
        deferrable=True,
        poke_interval=2,
        timeout=300,
    )
    # --8<-- [end:reply_sensor]

    # --8<-- [start:collect]
    replies = HbSmsCollectOperator(task_id="collect_replies", kinds=["replies"])

    # --8<-- [end:collect]

    # --8<-- [start:load]
    load = HbSmsLoadToSqlOperator(
        task_id="load_to_warehouse", sql_conn_id="hbsms_warehouse", outlets=[WAREHOUSE_REPORTS]
    )

    # --8<-- [end:load]

    # --8<-- [start:report]
    report = HbSmsCampaignReportOperator(task_id="campaign_report", campaign_key=send.output)
    # --8<-- [end:report]

    [delivered, first_answer] >> replies >> [load, report]


hbsms_example_campaign()
