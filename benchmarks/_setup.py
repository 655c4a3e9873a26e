"""What the campaign and Celery benchmarks set up alike: the gateway stand-in in a subprocess,
the connections to it, Parquet input, and Airflow run as a command in a fresh home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import CREDENTIALS, chinese_items

HERE = Path(__file__).resolve().parent


class StandIn:
    """The stand-in gateway in a subprocess.

    :param latency_ms: how long it waits before each answer.
    """

    def __init__(self, latency_ms: float = 0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "_standin.py"), str(latency_ms)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait()


def hbsms_connection(url: str) -> dict[str, Any]:
    """The ``hbsms_bench`` connection to the stand-in at ``url``, as JSON fields."""
    host, port = url.removeprefix("http://").split(":")
    return {
        "conn_type": "hbsms",
        "host": host,
        "port": int(port),
        "login": CREDENTIALS.corp_id,
        "password": CREDENTIALS.corp_pwd,
        "extra": {"corp_service": CREDENTIALS.corp_service},
    }


def http_connection(url: str) -> dict[str, Any]:
    """The ``http_bench`` connection (the ``HttpHook`` baseline's) to the stand-in at ``url``."""
    host, port = url.removeprefix("http://").split(":")
    return {"conn_type": "http", "host": host, "port": int(port), "schema": "http"}


def use_stand_in(url: str, workdir: Path) -> None:
    """Point this process's ``hbsms_bench`` and ``http_bench`` connections at ``url``; pacing
    files in ``workdir``."""
    os.environ["AIRFLOW_CONN_HBSMS_BENCH"] = json.dumps(hbsms_connection(url))
    os.environ["AIRFLOW_CONN_HTTP_BENCH"] = json.dumps(http_connection(url))
    os.environ["HBSMS_PACING_DIR"] = str(workdir / "pacing")


def write_parquet(path: Path, rows: int) -> None:
    """Personalized messages of Chinese text to distinct numbers (as a customer list has them;
    ``chinese_items``' numbers repeat), written 100,000 at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    for start in range(0, rows, 100_000):
        items = chinese_items(min(100_000, rows - start), start)
        table = pa.table(
            {
                "mobile": [f"139{i:08d}" for i in range(start, start + len(items))],
                "text": [i.content for i in items],
            }
        )
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
        del items, table  # one chunk in memory at a time: the memory benchmark writes too
    assert writer is not None
    writer.close()


def task_environment(home: Path, dags_folder: Path, **more: str) -> dict[str, str]:
    """This process's environment for ``airflow`` commands in a fresh ``home``: its own
    connections and unit-test mode left out, the store a SQLite file in ``home``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AIRFLOW_CONN_") and k != "AIRFLOW__CORE__UNIT_TEST_MODE"
    }
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags_folder),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__HBSMS__STORE_URL=f"sqlite:///{home / 'store.db'}",
        HBSMS_PACING_DIR=str(home / "pacing"),
        **more,
    )
    return env


def run_airflow(env: dict[str, str], *commands: list[str]) -> None:
    """Run ``airflow`` commands in turn; the first that fails shows its output and stops."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    for command in commands:
        done = subprocess.run([airflow, *command], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-3000:])
            raise SystemExit(f"airflow {' '.join(command)} failed")
