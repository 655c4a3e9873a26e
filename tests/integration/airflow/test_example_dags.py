"""The example DAGs: they import cleanly, and run for real with `airflow dags test`."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter

import pytest

from airflow_provider_hbsms.store import open_store
from tests.fixtures.dag_runs import DAGS, dag_env, run_dag

EXAMPLES = sorted(p.stem for p in DAGS.glob("*.py"))


def test_every_example_dag_imports(airflow_home) -> None:
    script = (
        "import json; from airflow.dag_processing.dagbag import DagBag; "
        f"bag = DagBag({str(DAGS)!r}); "
        "print('RESULT', json.dumps([sorted(bag.dag_ids), bag.import_errors]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=dag_env(airflow_home, {}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    dag_ids, errors = json.loads(line.removeprefix("RESULT "))
    assert errors == {}
    assert set(dag_ids) == set(EXAMPLES)


@pytest.mark.airflow_run
def test_example_campaign_runs_end_to_end(airflow_home, simulator_factory, tmp_path) -> None:
    # Reports come later than the sensor task can take to start on a busy machine (19 s seen
    # for Airflow 3.2 on two shared cores): its first check finds them missing, so it defers.
    simulator = simulator_factory(report_delay=30.0)
    simulator.inject_reply("13900010007", "TD", "88")
    output, store_url, warehouse = run_dag(
        airflow_home, "hbsms_example_campaign", simulator, tmp_path
    )
    assert "Pausing task as DEFERRED" in output  # the sensor really deferred
    received = simulator.received()
    assert len(received) == 40
    assert len({m.mobile for m in received}) == 40
    assert received[0].content.startswith("尊敬的")
    store = open_store(url=store_url)
    summary = store.reports.summary()
    assert summary.total == 40
    assert summary.is_final
    assert store.opt_outs.all() == {"13900010007"}
    with sqlite3.connect(warehouse) as db:
        assert db.execute("select count(*) from hbsms_reports").fetchone()[0] == 40
        assert db.execute("select count(*) from hbsms_message_status").fetchone()[0] == 40
        assert db.execute("select count(*) from hbsms_replies").fetchone()[0] == 1
    # The report task wrote the campaign's page and funnel image.
    (page,) = (airflow_home / "hbsms_reports" / "hbsms_example_campaign").rglob("*.html")
    assert page.name == "send_reminders.html"
    assert 'data-count="delivered">40<' in page.read_text(encoding="utf-8")
    assert page.with_suffix(".png").exists()


@pytest.mark.airflow_run
def test_bulk_notice_runs_from_a_parquet_file(airflow_home, simulator, tmp_path) -> None:
    from datetime import UTC, datetime

    from airflow_provider_hbsms.campaign.window import SendWindow

    if not SendWindow.parse(("08:00", "21:00")).is_open(datetime.now(UTC)):
        pytest.skip("outside the DAG's 08:00-21:00 China-time send window: it would wait")
    run_dag(airflow_home, "hbsms_bulk_notice", simulator, tmp_path)
    counts = Counter(m.mobile for m in simulator.received())
    assert len(counts) == 500
    assert set(counts.values()) == {1}
