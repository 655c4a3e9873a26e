"""The sharded campaign under a real CeleryExecutor deployment, with a worker SIGKILLed.

PostgreSQL-backed Airflow (metadata database and Celery result backend in a fresh database),
Redis as the broker, the api-server, scheduler, dag-processor, triggerer and two Celery
workers as separate processes; the example DAG ``hbsms_sharded_campaign`` sends its shards
against the simulator (in this process, on loopback) through a store on PostgreSQL. While the
shards send, one worker is killed with SIGKILL: its whole process tree (a lost node) or its
own process group only (the OOM killer), which leaves its task processes running as orphans
while Airflow retries the same tasks on the other worker. The simulator may also drop a
connection mid-request, after processing it (the retry finds its delivery reports) or before
(nobody can know: the shard must fail naming the batch).

Either every number was texted exactly once and the campaign was delivered and loaded, or
the run failed and every number not texted belongs to a batch a failed shard named as of
unknown outcome; in no case was a number texted twice. Which case a run meets depends on where
the kill and the fault land (``HBSMS_CELERY_SEED`` replays a run's choices).
"""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from airflow_provider_hbsms.campaign.keys import batch_key
from airflow_provider_hbsms.campaign.shards import shard_of
from airflow_provider_hbsms.protocol.validation import normalize_mobile
from airflow_provider_hbsms.store import open_store
from airflow_provider_hbsms.store.schema import send_batches, sent_messages
from airflow_provider_hbsms.store.sent import expand_pending
from tests.fixtures.celery_deployment import CeleryDeployment, redis_problem
from tests.fixtures.simulator import connection_for

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.celery, pytest.mark.postgres, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[3]
DAG_ID = "hbsms_sharded_campaign"
DAG_FILE = REPO / "dags_examples" / f"{DAG_ID}.py"
ROWS, SHARDS = 8_000, 4  # 10 batches a shard; every report is pulled, 500 a second at most
SEND_LATENCY = 0.3  # seconds per send request: each shard sends for 3 s or more
UNKNOWN = re.compile(r"outcome unknown for batch\(es\) ([0-9, .]+)")


@pytest.fixture
def redis_available() -> None:
    problem = redis_problem()
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis must be reachable in CI at 127.0.0.1:6379: {problem}")
        pytest.skip(f"Redis not reachable at 127.0.0.1:6379: {problem}")


@pytest.fixture
def deployment(
    redis_available, postgres_admin_url, postgres_url, simulator_factory, tmp_path
) -> Iterator[tuple[CeleryDeployment, object]]:
    simulator = simulator_factory(report_delay=0.5)
    env = {
        "AIRFLOW_CONN_HBSMS_DEFAULT": connection_for(simulator).as_json(),
        "AIRFLOW_CONN_HBSMS_WAREHOUSE": json.dumps(
            {"conn_type": "sqlite", "host": str(tmp_path / "warehouse.db")}
        ),
        "AIRFLOW__HBSMS__STORE_URL": postgres_url,
        "HBSMS_PACING_DIR": str(tmp_path / "pacing"),
        "HBSMS_SHARD_DIR": str(tmp_path / "shards"),
    }
    deployment = CeleryDeployment(
        tmp_path / "af", [DAG_FILE], postgres_admin_url, workers=2, concurrency=4, env=env
    )
    try:
        deployment.start()
        yield deployment, simulator
    finally:
        deployment.stop()


def _expected_numbers() -> list[str]:
    """The demo input the DAG generates for ``rows``."""
    return [normalize_mobile(f"+86 139-{i // 10000:04d}-{i % 10000:04d}") for i in range(ROWS)]


def _kill_mid_send(deployment: CeleryDeployment, run_id: str, whole_tree: bool, store) -> str:
    """Wait until shards are sending and some batches are accepted, then SIGKILL the worker
    running a shard."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        deployment.remember_processes()
        running = deployment.query(
            "select map_index, pid from task_instance where run_id = :run and "
            "task_id = 'send_shard' and state = 'running' and pid is not null",
            run=run_id,
        )
        with store.engine.connect() as conn:
            accepted = conn.execute(
                select(send_batches.c.batch_key).where(send_batches.c.state == "accepted")
            ).all()
        if running and len(accepted) >= 4:
            for _, pid in running:
                worker = deployment.worker_of(int(pid))
                if worker is not None:
                    orphans = deployment.kill_worker(worker, whole_tree=whole_tree)
                    mode = "whole tree" if whole_tree else f"worker only, orphans {orphans}"
                    return f"killed {worker} ({mode}) after {len(accepted)} accepted batches"
        state = deployment.run_state(DAG_ID, run_id)
        if state in ("success", "failed"):
            pytest.fail(f"the run ended ({state}) before a worker could be killed mid-send")
        time.sleep(0.2)
    pytest.fail("no shard was running on a worker within 180 s")


def _named_unknown(deployment: CeleryDeployment, run_id: str) -> dict[int, set[int]]:
    """For each shard that failed: the batches its last try named as of unknown outcome."""
    named: dict[int, set[int]] = {}
    rows = deployment.query(
        "select map_index, try_number from task_instance where run_id = :run and "
        "task_id = 'send_shard' and state = 'failed'",
        run=run_id,
    )
    for map_index, try_number in rows:
        log = deployment.task_log(DAG_ID, run_id, "send_shard", map_index, try_number)
        found = UNKNOWN.findall(log)
        assert found, f"shard {map_index} failed without naming unknown batches:\n{log[-3000:]}"
        named[map_index] = {int(b) for b in found[-1].replace(".", "").split(",") if b.strip()}
    return named


@pytest.mark.airflow_run
def test_sharded_campaign_survives_a_killed_celery_worker(deployment, postgres_url) -> None:
    airflow, simulator = deployment
    seed = int(os.environ.get("HBSMS_CELERY_SEED", random.randrange(1 << 30)))
    chance = random.Random(seed)
    whole_tree = chance.random() < 0.5
    fault = chance.choice(["none", "close_after_processing", "close_before_processing"])
    if fault != "none":
        simulator.inject_fault(fault, endpoint="/hSmsSend.do", after=chance.randrange(4, 30))
    # Slow sends only (added last: a request another fault strikes is not delayed); pulls stay
    # fast, so that a retry and the sensor collect the reports quickly.
    simulator.inject_fault("latency", endpoint="/hSmsSend.do", count=None, seconds=SEND_LATENCY)
    print(f"HBSMS_CELERY_SEED={seed}: kill {'tree' if whole_tree else 'worker'}, fault {fault}")
    store = open_store(url=postgres_url)
    run_id = f"celery-{seed}"
    started = time.monotonic()
    airflow.trigger(DAG_ID, run_id, {"rows": ROWS, "shards": SHARDS})
    what = _kill_mid_send(airflow, run_id, whole_tree, store)
    print(f"{what} at {time.monotonic() - started:.1f} s")
    state = airflow.wait_run(DAG_ID, run_id, timeout=300)
    # An orphaned try may still be finishing: wait for it before counting what was sent.
    airflow.wait_for_orphans(timeout=60)
    print(f"run {state} after {time.monotonic() - started:.1f} s")
    assert state in ("success", "failed"), airflow.tail("scheduler")

    expected = _expected_numbers()
    counts = Counter(m.mobile for m in simulator.received())
    twice = {n: c for n, c in counts.items() if c > 1}
    assert not twice, f"texted more than once: {list(twice.items())[:10]}"
    assert set(counts) <= set(expected)

    # Every number was sent by the shard its hash says, and by no other.
    expand_pending(store.engine)
    with store.engine.connect() as conn:
        sent = conn.execute(
            select(sent_messages.c.mobile, sent_messages.c.campaign_key, sent_messages.c.batch_key)
        ).all()
    shard_by_number = dict(zip(expected, shard_of(expected, SHARDS).tolist(), strict=True))
    for mobile, campaign_key, _ in sent:
        assert campaign_key.endswith(f"/{shard_by_number[mobile]}"), (mobile, campaign_key)

    missing = set(expected) - set(counts)
    if state == "success":
        assert not missing, f"{len(missing)} numbers never texted though the run succeeded"
        summary = store.reports.summary(
            [f"{DAG_ID}/send_shard/{run_id}/{i}" for i in range(SHARDS)]
        )
        assert (summary.total, summary.pending) == (ROWS, 0)
        warehouse = json.loads(airflow.extra_env["AIRFLOW_CONN_HBSMS_WAREHOUSE"])["host"]
        with sqlite3.connect(warehouse) as db:
            assert db.execute("select count(*) from hbsms_reports").fetchone()[0] == ROWS
        return
    # Failed: only because some batches' outcome is unknown, and those are named.
    named = _named_unknown(airflow, run_id)
    assert named, "the run failed, but no shard failed naming unknown batches"
    named_keys = {
        batch_key(f"{DAG_ID}/send_shard/{run_id}/{shard}", b): (shard, b)
        for shard, batches in named.items()
        for b in batches
    }
    unexplained = {m for m, _, key in sent if m in missing and key not in named_keys}
    never_claimed = missing - {m for m, _, _ in sent}
    assert not unexplained, f"not texted, in no named batch: {sorted(unexplained)[:10]}"
    assert not never_claimed or all(
        airflow.query(
            "select 1 from task_instance where run_id = :run and task_id = 'send_shard' "
            "and map_index = :i and state = 'failed'",
            run=run_id,
            i=shard_by_number[m],
        )
        for m in list(never_claimed)[:20]
    ), "numbers of shards that did not fail were never sent"
    with store.engine.connect() as conn:
        states = dict(
            conn.execute(
                select(send_batches.c.batch_key, send_batches.c.state).where(
                    send_batches.c.batch_key.in_(list(named_keys))
                )
            ).all()
        )
    allowed = {"pending", "unknown"} | ({"accepted"} if not whole_tree else set())
    assert set(states.values()) <= allowed, states
    print(f"failed naming unknown batches {named}: {len(missing)} numbers not texted")
