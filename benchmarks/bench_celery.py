"""The sharded campaign under CeleryExecutor: 1 worker vs 2 workers.

    .venv/bin/python benchmarks/bench_celery.py [--quick]

Starts a real CeleryExecutor deployment on this machine (PostgreSQL metadata database and
store, Redis broker, api-server, scheduler, dag-processor, triggerer, Celery workers; as in
``tests/integration/airflow/test_celery_sharded_campaign.py``) and a gateway stand-in
answering every request after 30 ms. A DAG splits 200,000 personalized messages into shards
by number and sends them as mapped tasks, one connection each. It runs once with one worker,
then with a second worker started, and prints the throughput of each (messages over the time
from the first shard's start to the last shard's end) and their ratio.

What limits it: a sending shard is latency-bound (one request of 200 messages per 30 ms
round trip, about 6,500 messages a second, and some 3% of a core), so a worker's throughput is
its task slots (``--concurrency``, sized to its memory: each running task holds about 300 MB)
times that. A second worker adds its slots only while there are more shards than one worker
has slots: the default layout is 4 shards on workers of 2 slots each (``--slots``,
``--shards``); with ``--slots 4`` one worker runs every shard at once and a second adds nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from _setup import StandIn, hbsms_connection, write_parquet  # noqa: E402

DAG_ID = "hbsms_bench_sharded"
DAG_SOURCE = '''
"""Benchmark DAG: split a Parquet file into shards by number, send each as a mapped task."""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import dag, task

from airflow_provider_hbsms.operators.send import HbSmsPersonalizedSendOperator


@dag(dag_id="hbsms_bench_sharded", schedule=None, start_date=datetime(2026, 1, 1),
     catchup=False, max_active_tasks=32, params={"input": "", "shards": 4, "out": ""})
def hbsms_bench_sharded():
    @task
    def split(**context):
        from airflow_provider_hbsms.campaign.shards import split_into_shards

        params = context["params"]
        shards = split_into_shards(params["input"], params["out"], int(params["shards"]))
        return [shard.path for shard in shards]

    HbSmsPersonalizedSendOperator.partial(
        task_id="send_shard",
        content_column="text",
        hbsms_conn_id="hbsms_bench",
        check_balance=False,
        honour_opt_outs=False,
    ).expand(input=split())


hbsms_bench_sharded()
'''


def _run(deployment, run_id: str, conf: dict, messages: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Trigger a run; (send makespan, DAG run seconds)."""
    started = time.monotonic()
    deployment.trigger(DAG_ID, run_id, conf)
    state = deployment.wait_run(DAG_ID, run_id, timeout=900)
    total = time.monotonic() - started
    if state != "success":
        raise SystemExit(f"run {run_id}: {state}\n{deployment.tail('scheduler')}")
    ((first, last),) = deployment.query(
        "select min(start_date), max(end_date) from task_instance "
        "where run_id = :run and task_id = 'send_shard'",
        run=run_id,
    )
    return (last - first).total_seconds(), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a smoke run")
    parser.add_argument("--slots", type=int, default=2, help="task slots per worker")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--messages", type=int, default=200_000)
    args = parser.parse_args()
    messages = 40_000 if args.quick else args.messages

    from tests.fixtures.celery_deployment import CeleryDeployment, redis_problem

    problem = redis_problem()
    if problem:
        raise SystemExit(f"Redis on 127.0.0.1:6379 is needed: {problem}")
    admin = os.environ.get(
        "HBSMS_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
    )
    with StandIn(latency_ms=30) as standin, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "dags").mkdir()
        dag_file = work / "dags" / f"{DAG_ID}.py"
        dag_file.write_text(DAG_SOURCE)
        source = work / "input.parquet"
        write_parquet(source, messages)
        schema = _schema(admin)
        env = {
            "AIRFLOW_CONN_HBSMS_BENCH": json.dumps(hbsms_connection(standin.url)),
            "AIRFLOW__HBSMS__STORE_URL": schema,
            "HBSMS_PACING_DIR": str(work / "pacing"),
        }
        deployment = CeleryDeployment(
            work / "af", [dag_file], admin, workers=1, concurrency=args.slots, env=env
        )
        try:
            print(
                f"starting Airflow under CeleryExecutor ({args.slots} task slots per worker), "
                f"stand-in at 30 ms; {messages:,} messages in {args.shards} shards"
            )
            deployment.start()
            results = {}
            for workers in (1, 2):
                if workers == 2:
                    deployment.worker_names.append("w2")
                    deployment.start_worker("w2")
                    deadline = time.monotonic() + 120
                    while not deployment.worker_ready("w2"):
                        if time.monotonic() > deadline:
                            raise SystemExit("worker w2 did not start")
                        time.sleep(0.5)
                conf = {
                    "input": str(source),
                    "shards": args.shards,
                    "out": str(work / f"shards-{workers}"),
                }
                makespan, total = _run(deployment, f"bench-{workers}w", conf, messages)
                results[workers] = makespan
                ceiling = min(args.shards, workers * args.slots) * 200 / 0.030
                print(
                    f"  {workers} worker(s): sends {makespan:6.1f} s = {messages / makespan:8,.0f}"
                    f" msg/s ({messages / makespan / ceiling:.2f}x of {ceiling:,.0f} msg/s for "
                    f"{min(args.shards, workers * args.slots)} shards at once); "
                    f"DAG run {total:.1f} s"
                )
            ratio = results[1] / results[2]
            print(f"  throughput ratio 2 workers / 1 worker: {ratio:.2f}x (target >= 1.8)")
        finally:
            deployment.stop()
            _drop_schema(admin, schema)


def _schema(admin: str) -> str:
    """A fresh PostgreSQL schema for the store, as a URL."""
    import uuid

    from sqlalchemy import create_engine, text

    name = f"hbsms_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    engine.dispose()
    return f"{admin}?options=-csearch_path%3D{name}"


def _drop_schema(admin: str, url: str) -> None:
    from sqlalchemy import create_engine, text

    name = url.rsplit("%3D", 1)[1]
    engine = create_engine(admin)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    engine.dispose()


if __name__ == "__main__":
    main()
