"""The main job: an example SMS campaign end to end, as a real Airflow DAG run.

Starts the gateway simulator on 127.0.0.1, runs the example DAG ``hbsms_example_campaign``
(recipients from an upstream task -> personalized send -> wait for delivery reports -> load
them into a warehouse table) with ``airflow dags test`` in a fresh AIRFLOW_HOME under
``var/demo``, and prints what happened.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOME = REPO / "var" / "demo"
DAG_ID = "hbsms_example_campaign"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


STORE_DB = HOME / "hbsms.db"
WAREHOUSE_DB = HOME / "warehouse.db"
WAREHOUSE_TABLES = ("hbsms_reports", "hbsms_message_status", "hbsms_replies")


def _env(base_url: str) -> dict[str, str]:
    """A throwaway Airflow home; the gateway and warehouse connections given by env vars."""
    from airflow.sdk import Connection

    host, port = base_url.removeprefix("http://").split(":")
    gateway = Connection(
        conn_id="hbsms_default",
        conn_type="hbsms",
        host=host,
        port=int(port),
        schema="http",
        login="demo",
        password="demo-secret",
        extra=json.dumps(
            {"corp_service": "svc", "channel_number": "10657", "signature": "【示例】"}
        ),
    )
    warehouse = Connection(conn_id="hbsms_warehouse", conn_type="sqlite", host=str(WAREHOUSE_DB))
    return {
        **os.environ,
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags_examples"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__HBSMS__STORE_URL": f"sqlite:///{STORE_DB}",
        "AIRFLOW_CONN_HBSMS_DEFAULT": gateway.as_json(),
        "AIRFLOW_CONN_HBSMS_WAREHOUSE": warehouse.as_json(),
    }


def main() -> int:
    from airflow_provider_hbsms.simulator import GatewaySimulator, SimAccount, SimulatorConfig

    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir(parents=True)
    config = SimulatorConfig(
        accounts=[
            SimAccount(
                corp_id="demo",
                corp_pwd="demo-secret",
                services=("svc",),
                balance=Decimal("10000"),
                channel_number="10657",
                signature="【示例】",
            )
        ],
        report_delay=1.0,
        failure_ratio=0.05,
        seed=7,
    )
    started = time.monotonic()
    with GatewaySimulator(config) as sim:
        print(f"Gateway simulator on {sim.base_url}")
        env = _env(sim.base_url)
        subprocess.run(
            [AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, text=True
        )
        print(f"Running DAG {DAG_ID} with `airflow dags test` (AIRFLOW_HOME={HOME})")
        log = HOME / "dag_run.log"
        with log.open("w") as out:
            run = subprocess.run(
                [AIRFLOW, "dags", "test", DAG_ID], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        received = sim.received()
    print()
    if run.returncode != 0:
        print(f"The DAG run FAILED (exit {run.returncode}); last lines of {log}:")
        print("\n".join(log.read_text().splitlines()[-40:]))
        return 1
    _summary(received, time.monotonic() - started)
    return 0


def _summary(received: list, seconds: float) -> None:  # type: ignore[type-arg]
    from airflow_provider_hbsms.store import open_store

    print(f"Campaign finished in {seconds:.1f} s.")
    print(
        f"  gateway received {len(received)} messages, "
        f"{sum(m.segments for m in received)} billed segments"
    )
    store = open_store(url=f"sqlite:///{STORE_DB}")
    summary = store.reports.summary()
    print(
        f"  delivery: {summary.delivered} delivered, {summary.failed} failed, "
        f"{summary.pending} pending of {summary.total}"
    )
    for reason, count in sorted(summary.failed_by_reason.items()):
        print(f"    failed {reason}: {count}")
    with sqlite3.connect(WAREHOUSE_DB) as db:
        for table in WAREHOUSE_TABLES:
            try:
                (count,) = db.execute(f"select count(*) from {table}").fetchone()
            except sqlite3.OperationalError:
                count = "missing"
            print(f"  warehouse table {table}: {count} rows")
    print(json.dumps({"dag_run_log": str(HOME / "dag_run.log")}))


if __name__ == "__main__":
    sys.exit(main())
