"""The collect operator, concurrent collectors on one account, and stale-pull warnings."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from airflow_provider_hbsms import StalePullsError
from airflow_provider_hbsms.collector import Collector, DrainResult
from airflow_provider_hbsms.hooks.hbsms import HbSmsHook
from airflow_provider_hbsms.operators.collect import HbSmsCollectOperator
from airflow_provider_hbsms.protocol import Report
from airflow_provider_hbsms.store.schema import pull_state
from tests.fixtures.operators import context
from tests.fixtures.simulator import SIM_CORP_ID


def _backlog(n: int) -> list[Report]:
    return [Report(f"136{i:08d}", f"b{i}", 0, "0" if i % 4 else "UNDELIV") for i in range(n)]


def test_operator_drains_both_queues_and_returns_counts(simulator, hbsms_conn, store) -> None:
    simulator.queue_reports(_backlog(250))
    simulator.inject_reply("13600000001", "退订")
    simulator.inject_reply("13600000002", "ok")
    op = HbSmsCollectOperator(
        task_id="collect", store_url=str(store.engine.url), max_lag=timedelta(hours=1)
    )
    result = op.execute(context("collect"))
    assert result["reports"] == {
        "kind": "reports",
        "pulls": 4,  # 100 + 100 + 50, then "0"
        "received": 250,
        "new": 250,
        "opted_out": 0,
        "dead_letters": 0,
        "quarantined": 0,
    }
    assert (result["replies"]["new"], result["replies"]["opted_out"]) == (2, 1)
    assert store.reports.summary(msg_ids=[f"b{i}" for i in range(250)]).failed == 63
    # A second run finds the queues empty.
    again = op.execute(context("collect"))
    assert (again["reports"]["received"], again["replies"]["received"]) == (0, 0)


def test_operator_fails_when_pulls_are_stale(simulator, hbsms_conn, store) -> None:
    op = HbSmsCollectOperator(
        task_id="collect", store_url=str(store.engine.url), kinds=["reports"], max_lag=timedelta(0)
    )
    with pytest.raises(StalePullsError, match="reports pull"):
        op.execute(context("collect"))


def test_concurrent_collectors_share_the_pacing(simulator, hbsms_conn, store) -> None:
    """Two pollers of one account (two clients, as two processes would have): every report is
    stored once and neither is refused as too soon (-19)."""
    simulator.queue_reports(_backlog(600))
    results: list[DrainResult] = []

    def drain() -> None:
        results.append(Collector(HbSmsHook().client, store).drain_reports())

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.received for r in results) == sum(r.new for r in results) == 600
    with store.engine.connect() as conn:
        (state,) = conn.execute(pull_state.select()).all()
    assert state.last_error is None
    assert store.pulls.last_success(SIM_CORP_ID, "reports") is not None


def test_collector_warns_when_the_last_pull_is_old(simulator, hbsms_conn, store, caplog) -> None:
    store.pulls.record_success(SIM_CORP_ID, "reports")
    with store.engine.begin() as conn:
        conn.execute(
            update(pull_state).values(last_success_at=datetime.now(UTC) - timedelta(days=2))
        )
    with caplog.at_level(logging.WARNING, logger="airflow_provider_hbsms.collector"):
        Collector(HbSmsHook().client, store, warn_lag=timedelta(hours=12)).drain_reports()
    assert "moves unpulled data to history after 3 days" in caplog.text
    store.pulls.check_fresh(SIM_CORP_ID, "reports", timedelta(minutes=1))  # fresh again
