"""A same-content notice after a data job: the job writes a Parquet file, the send reads it.

The upstream task stands for any job that writes recipients to a file (local path or object
storage). The send reads it in chunks, leaves out opted-out numbers and duplicates, sends only
between 08:00 and 21:00 China time (waiting, deferred, outside it), and checks the balance
first.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime

import pandas as pd
from airflow.sdk import dag, task

from airflow_provider_hbsms.operators.send import HbSmsSendOperator


@dag(
    dag_id="hbsms_bulk_notice",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["hbsms", "example"],
)
def hbsms_bulk_notice() -> None:
    @task
    def export_recipients() -> str:
        """Write the day's recipients to Parquet and return the path."""
        path = os.path.join(tempfile.gettempdir(), "hbsms_bulk_notice_recipients.parquet")
        numbers = [f"1380013{i:04d}" for i in range(500)] + ["13800130001"]  # one duplicate
        pd.DataFrame({"phone": numbers}).to_parquet(path)
        return path

    # --8<-- [start:send]
    HbSmsSendOperator(
        task_id="send_notice",
        input=export_recipients(),
        mobile_column="phone",
        content="【示例物业】明日9:00-17:00停水检修，请提前储水。退订回TD",
        send_window=("08:00", "21:00"),
        timezone="Asia/Shanghai",
        outside_window="wait",
    )
    # --8<-- [end:send]


hbsms_bulk_notice()
