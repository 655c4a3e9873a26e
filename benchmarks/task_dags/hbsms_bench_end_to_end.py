"""A campaign end to end as one Airflow task, run by ``bench_campaign.py`` (section 4) with
``airflow dags test``: the personalized send over a Parquet file (``$HBSMS_BENCH_INPUT``) with
``$HBSMS_BENCH_CONNECTIONS`` connections, then the campaign's first delivery summary, which
indexes every sent message first. Writes the wall time of both, and the task process's peak
RSS, to ``$HBSMS_BENCH_OUT/end_to_end.json``.
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path
from typing import Any

from airflow.sdk import dag

from airflow_provider_hbsms.operators.send import HbSmsPersonalizedSendOperator


class SendThenSummarize(HbSmsPersonalizedSendOperator):
    """The send, then what a delivery sensor's first check reads (without pulling)."""

    def execute(self, context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        result = super().execute(context)
        sent = time.perf_counter()
        summary = self.store.reports.summary(result["campaign_key"])
        done = time.perf_counter()
        assert summary.total == result["accepted"] == result["messages"], (summary, result)
        Path(os.environ["HBSMS_BENCH_OUT"], "end_to_end.json").write_text(
            json.dumps(
                {
                    "messages": result["messages"],
                    "send": sent - started,
                    "summary": done - sent,
                    "wall": done - started,
                    "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                }
            )
        )
        return {"accepted": result["accepted"]}


@dag(schedule=None, catchup=False)
def hbsms_bench_end_to_end() -> None:
    SendThenSummarize(
        task_id="send_and_summarize",
        input=os.environ.get("HBSMS_BENCH_INPUT", ""),
        content_column="text",
        hbsms_conn_id="hbsms_bench",
        connections=int(os.environ.get("HBSMS_BENCH_CONNECTIONS", "4")),
        check_balance=False,
        honour_opt_outs=False,
    )


hbsms_bench_end_to_end()
