"""The main job: an example SMS campaign end to end, as a real Airflow DAG run.

Starts the gateway simulator on 127.0.0.1, runs the example DAG ``hbsms_example_campaign``
(recipients from an upstream task -> personalized send -> wait for delivery reports -> load
them into a warehouse table) with ``airflow dags test`` in a fresh AIRFLOW_HOME under
``var/demo``, and prints what happened and where the campaign's report (HTML page, PNG of
the funnel) was written.
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
    host, port = base_url.removeprefix("http://").split(":")
    gateway = {
        "conn_type": "hbsms",
        "host": host,
        "port": int(port),
        "schema": "http",
        "login": "demo",
        "password": "demo-secret",
        "extra": {"corp_service": "svc", "channel_number": "10657", "signature": "【示例】"},
    }
    warehouse = {"conn_type": "sqlite", "host": str(WAREHOUSE_DB)}
    return {
        **os.environ,
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags_examples"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__HBSMS__STORE_URL": f"sqlite:///{STORE_DB}",
        "AIRFLOW_CONN_HBSMS_DEFAULT": json.dumps(gateway),
        "AIRFLOW_CONN_HBSMS_WAREHOUSE": json.dumps(warehouse),
        "HBSMS_PACING_DIR": str(HOME / "pacing"),
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
        # Three recipients answer the reminder (ext 88): two of them opt out.
        for mobile, text in (
            ("13900010007", "TD"),
            ("13900020014", "收到，谢谢"),
            ("13900030021", "退订"),
        ):
            sim.inject_reply(mobile, text, "88")
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
    _report_paths()
    return 0


def _summary(received: list, seconds: float) -> None:  # type: ignore[type-arg]
    from airflow_provider_hbsms.campaign.privacy import mask_number
    from airflow_provider_hbsms.store import open_store

    print(f"DAG run {DAG_ID} succeeded in {seconds:.1f} s (log: {HOME / 'dag_run.log'})")
    print(
        f"  gateway received {len(received)} messages, "
        f"{sum(m.segments for m in received)} billed segments"
    )
    store = open_store(url=f"sqlite:///{STORE_DB}")
    for campaign, batches in _campaigns(store).items():
        accepted = sum(b.accepted or 0 for b in batches.values())
        states = ", ".join(sorted({str(b.state) for b in batches.values()}))
        print(f"  campaign {campaign}: {len(batches)} batch(es) ({states}), {accepted} accepted")
    summary = store.reports.summary()
    print(
        f"  delivery: {summary.delivered} delivered, {summary.failed} failed, "
        f"{summary.pending} pending of {summary.total}"
    )
    for reason, count in sorted(summary.failed_by_reason.items()):
        print(f"    failed {reason}: {count}")
    replies = store.replies.find()
    opted_out = [mask_number(m) for m in sorted(store.opt_outs.all())]
    print(f"  replies: {len(replies)}; opted out now: {opted_out}")
    for reply in replies:
        who = mask_number(reply.mobile)
        print(f"    {who} (ext {reply.ext}) {reply.content!r} -> {reply.msg_id}")
    with sqlite3.connect(WAREHOUSE_DB) as db:
        for table in WAREHOUSE_TABLES:
            try:
                (count,) = db.execute(f"select count(*) from {table}").fetchone()
            except sqlite3.OperationalError:
                count = "missing"
            print(f"  warehouse table {table}: {count} rows")


def _report_paths() -> None:
    """Where the DAG's report task wrote the campaign's report."""
    pages = sorted((HOME / "hbsms_reports").rglob("*.html"))
    if not pages:
        print("  campaign report: none written (see the log)")
        return
    for page in pages:
        print(f"  campaign report (open in a browser): {page}")
        image = page.with_suffix(".png")
        if image.exists():
            print(f"  funnel image: {image}")


def _campaigns(store) -> dict:  # type: ignore[no-untyped-def,type-arg]
    from sqlalchemy import select

    from airflow_provider_hbsms.store.schema import send_batches

    with store.engine.connect() as conn:
        keys = conn.execute(select(send_batches.c.campaign_key).distinct()).scalars().all()
    return {key: store.ledger.batches(key) for key in keys}


if __name__ == "__main__":
    sys.exit(main())
