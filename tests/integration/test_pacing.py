"""Pacing as the gateway sees it: gaps between an account's balance and pull calls, measured
where the simulator received them, with new connections, across endpoints, across processes
that share a pacing directory, and across processes that share only the PostgreSQL store."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sqlalchemy import create_engine

from airflow_provider_hbsms.client import HbSmsClient
from airflow_provider_hbsms.pacing import DatabasePacer
from airflow_provider_hbsms.protocol import Credentials, Endpoint
from tests.fixtures.simulator import SIM_CORP_ID, SIM_PASSWORD

CREDS = Credentials(SIM_CORP_ID, SIM_PASSWORD, "svc")
GAP = 0.2
ROOT = Path(__file__).resolve().parents[2]


def _summary(gaps: list[float]) -> str:
    low, middle = min(gaps) * 1000, statistics.median(gaps) * 1000
    return f"{len(gaps)} gaps: min {low:.1f} ms, median {middle:.1f} ms"


def test_200_paced_calls_with_a_new_connection_each_are_never_closer_than_200_ms(
    simulator, tmp_path
) -> None:
    """Balance and both pulls of one account take turns (the document's per-user rule), each
    call on a new connection; the gaps are measured at the gateway."""
    client = HbSmsClient(
        simulator.base_url, CREDS, pacing_dir=tmp_path, max_connection_age=0, rate_limit_wait=0
    )
    calls = (client.fetch_reports, client.fetch_replies, client.get_balance)
    for i in range(200):
        calls[i % 3]()  # rate_limit_wait=0: a "too soon" reply would raise at once
    client.close()
    gaps = simulator.gateway.paced_gaps(SIM_CORP_ID)
    print(_summary(gaps))
    assert len(gaps) == 199
    assert min(gaps) >= GAP, _summary(gaps)


def test_each_endpoint_is_paced_on_its_own_only_when_configured(simulator, tmp_path) -> None:
    client = HbSmsClient(
        simulator.base_url, CREDS, pacing_dir=tmp_path, pacing_scope="endpoint", rate_limit_wait=0
    )
    assert client.pacers[Endpoint.PULL_REPORTS] is not client.pacers[Endpoint.PULL_REPLIES]
    for _ in range(6):
        client.fetch_reports()
        client.fetch_replies()
    for path in (Endpoint.PULL_REPORTS.path, Endpoint.PULL_REPLIES.path):
        assert min(simulator.gateway.paced_gaps(SIM_CORP_ID, (path,))) >= GAP
    assert min(simulator.gateway.paced_gaps(SIM_CORP_ID)) < GAP  # the two interleave freely
    shared = HbSmsClient(simulator.base_url, CREDS, pacing_dir=tmp_path)
    assert len({id(p) for p in shared.pacers.values()}) == 1


_WORKER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from sqlalchemy import create_engine
    from airflow_provider_hbsms.client import HbSmsClient
    from airflow_provider_hbsms.protocol import Credentials

    url, pacing_dir = sys.argv[1], sys.argv[2]
    calls, start_at = int(sys.argv[3]), float(sys.argv[4])
    db_url = os.environ.get("PACING_DB_URL")
    engine = create_engine(db_url) if db_url else None
    creds = Credentials("test", os.environ["SIM_PASSWORD"], "svc")
    client = HbSmsClient(url, creds, pacing_dir=Path(pacing_dir), pacing_engine=engine,
                         max_connection_age=0, rate_limit_wait=30)
    time.sleep(max(0.0, start_at - time.time()))
    for i in range(calls):
        (client.fetch_reports, client.get_balance, client.fetch_replies)[i % 3]()
    client.close()
    """
)


def _run_workers(simulator, tmp_path: Path, dirs: list[Path], db_url: str | None, calls: int):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    env = {**os.environ, "SIM_PASSWORD": SIM_PASSWORD, "PYTHONPATH": str(ROOT)}
    env.pop("PACING_DB_URL", None)
    if db_url:
        env["PACING_DB_URL"] = db_url
    start_at = time.time() + 3  # both start together, after their imports
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), simulator.base_url, str(d), str(calls), str(start_at)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for d in dirs
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
    return simulator.gateway.paced_gaps(SIM_CORP_ID)


def test_processes_sharing_only_the_postgresql_store_take_turns(
    simulator, tmp_path, postgres_url
) -> None:
    """Two processes with pacing directories of their own (as on two hosts) pace through the
    store's database."""
    dirs = [tmp_path / "host-a", tmp_path / "host-b"]
    gaps = _run_workers(simulator, tmp_path, dirs, postgres_url, calls=24)
    print(_summary(gaps))
    assert len(gaps) == 47  # 48 calls, none refused as too soon and called again
    assert min(gaps) >= GAP, _summary(gaps)


def test_processes_sharing_a_pacing_directory_take_turns(simulator, tmp_path) -> None:
    gaps = _run_workers(simulator, tmp_path, [tmp_path / "shared"] * 2, None, calls=15)
    assert len(gaps) == 29
    assert min(gaps) >= GAP, _summary(gaps)


def test_processes_sharing_nothing_collide(simulator, tmp_path) -> None:
    """The control: without a shared pacer, two pollers of one account come closer than the
    gateway allows (and are refused as too soon)."""
    gaps = _run_workers(simulator, tmp_path, [tmp_path / "a", tmp_path / "b"], None, calls=12)
    assert min(gaps) < GAP


def test_database_pacer_spaces_from_the_end_of_a_call(postgres_url) -> None:
    engine = create_engine(postgres_url)
    pacer = DatabasePacer("k", engine, interval=0.3)
    with pacer.hold():
        time.sleep(0.2)  # a slow call
    ended = time.monotonic()
    with pacer.hold():
        started = time.monotonic()
    assert started - ended >= 0.28
    engine.dispose()
