"""Both sides of the campaign benchmark as Airflow tasks, run by ``bench_campaign.py`` with
``airflow dags test``: a hand-written ``HttpHook.run`` loop and the personalized send operator,
each fetching its connection the way a task does (from Airflow's metadata database).

Each task builds its messages first and times only the sending, twice, keeping the faster run
(runs in one process vary by tens of percent here); it writes that timing to
``$HBSMS_BENCH_OUT/<task>.json``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from airflow.sdk import dag, task

from airflow_provider_hbsms.operators.send import HbSmsPersonalizedSendOperator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import chinese_items, send_with_http_hook

MESSAGES = int(os.environ.get("HBSMS_BENCH_MESSAGES", "100000"))
OUT = Path(os.environ.get("HBSMS_BENCH_OUT", "."))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


RUNS = 2


def _record(name: str, timings: list[tuple[float, float]]) -> None:
    wall, cpu = min(timings)
    (OUT / f"{name}.json").write_text(json.dumps({"wall": wall, "cpu": cpu}))


class TimedPersonalizedSend(HbSmsPersonalizedSendOperator):
    """The operator, with its input built before the clock starts."""

    def execute(self, context: Any) -> dict[str, Any]:
        import pandas as pd

        items = chinese_items(MESSAGES)
        self.input = pd.DataFrame(
            {"mobile": [i.mobile for i in items], "text": [i.content for i in items]}
        )
        timings = []
        for run in range(RUNS):
            self.campaign_key = f"bench-in-task-{run}"  # a new campaign: nothing to skip
            cpu, wall = _cpu(), time.perf_counter()
            result = super().execute(context)
            timings.append((time.perf_counter() - wall, _cpu() - cpu))
            assert result["accepted"] == MESSAGES, result
        _record("operator", timings)
        return {"accepted": MESSAGES}


@dag(schedule=None, catchup=False)
def hbsms_bench_in_tasks() -> None:
    @task
    def http_hook_loop() -> int:
        """What users write today: a GBK form per batch, ``HttpHook.run`` to post it."""
        items = chinese_items(MESSAGES)
        timings = []
        for _ in range(RUNS):
            cpu, wall = _cpu(), time.perf_counter()
            send_with_http_hook(items)
            timings.append((time.perf_counter() - wall, _cpu() - cpu))
        _record("http_hook_loop", timings)
        return MESSAGES

    loop = http_hook_loop()
    send = TimedPersonalizedSend(
        task_id="operator",
        input=[],
        content_column="text",
        hbsms_conn_id="hbsms_bench",
        check_balance=False,
        honour_opt_outs=False,
    )
    loop >> send


hbsms_bench_in_tasks()
