"""Pulling reports and replies into the store; statuses, attribution, opt-outs, freshness."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from airflow_provider_hbsms import PushOnlyAccountError, StalePullsError
from airflow_provider_hbsms.collector import Collector
from airflow_provider_hbsms.hooks.hbsms import HbSmsHook
from airflow_provider_hbsms.operators.send import HbSmsPersonalizedSendOperator
from airflow_provider_hbsms.store.schema import dead_letters
from tests.fixtures.operators import context
from tests.fixtures.simulator import SIM_CORP_ID, sim_account


def _campaign(store, n: int, text: str = "hi", ext: str = "") -> dict:
    frame = pd.DataFrame({"mobile": [f"135{i:08d}" for i in range(n)], "text": [text] * n})
    op = HbSmsPersonalizedSendOperator(
        task_id="send", input=frame, content_column="text", ext=ext, store_url=str(store.engine.url)
    )
    return op.execute(context())


def test_drain_reports_into_statuses_and_summary(
    simulator_factory, hbsms_conn, store, monkeypatch
) -> None:
    sim = simulator_factory(accounts=[sim_account()], failure_ratio=0.2, seed=3)
    from tests.fixtures.simulator import connection_for

    monkeypatch.setenv("AIRFLOW_CONN_HBSMS_DEFAULT", connection_for(sim).as_json())
    result = _campaign(store, 250, text="字" * 100)  # 2 segments each
    collector = Collector(HbSmsHook().client, store)
    drained = collector.drain_reports()
    assert drained.received == drained.new == 500
    assert drained.pulls == 6
    summary = store.reports.summary(campaign_key=result["campaign_key"])
    assert summary.total == 250
    assert summary.is_final
    assert summary.failed == sum(summary.failed_by_reason.values()) > 0
    assert summary.delivered + summary.failed == 250
    statuses = store.reports.message_statuses(campaign_key=result["campaign_key"])
    failed = [s for s in statuses if s.status == "failed"]
    assert len(failed) == summary.failed
    assert all(s.err not in ("", "0") for s in failed)
    assert collector.drain_reports().received == 0  # handed over once
    assert store.pulls.last_success(SIM_CORP_ID, "reports") is not None


def test_replies_are_attributed_and_opt_outs_recorded(simulator, hbsms_conn, store) -> None:
    result = _campaign(store, 3, ext="42")
    for mobile, text in [
        ("13500000000", " td "),
        ("13500000001", "好的"),
        ("13500000002", "退订。"),
    ]:
        simulator.inject_reply(mobile, text, "42")
    drained = Collector(HbSmsHook().client, store).drain_replies()
    assert (drained.new, drained.opted_out) == (3, 2)
    assert store.opt_outs.all() == {"13500000000", "13500000002"}
    found = store.replies.find(campaign_key=result["campaign_key"])
    assert [r.content for r in found] == [" td ", "好的", "退订。"]
    assert all(r.msg_id for r in found)
    assert [r.mobile for r in store.replies.find(pattern="好")] == ["13500000001"]
    # The next campaign leaves the opted-out numbers out.
    again = HbSmsPersonalizedSendOperator(
        task_id="next",
        input=pd.DataFrame({"mobile": ["13500000000", "13500000001"], "t": ["x", "y"]}),
        content_column="t",
        store_url=str(store.engine.url),
    ).execute(context("next"))
    assert (again["opted_out"], again["accepted"]) == (1, 1)


def test_pull_not_enabled_points_to_the_receiver(simulator, hbsms_conn, store) -> None:
    simulator.update_account(SIM_CORP_ID, pull_enabled=False)
    with pytest.raises(PushOnlyAccountError, match="push receiver"):
        Collector(HbSmsHook().client, store).drain_reports()


def test_unreadable_pull_is_kept_as_a_dead_letter(simulator, hbsms_conn, store) -> None:
    simulator.inject_fault("malformed_reply", endpoint="/post_report.do")
    simulator.update_account(SIM_CORP_ID)  # no-op, keeps the account
    result = Collector(HbSmsHook().client, store).drain_reports(max_pulls=2)
    assert result.dead_letters == 1
    with store.engine.connect() as conn:
        (row,) = conn.execute(dead_letters.select()).all()
    assert b"502" in row.body


def test_freshness_check(simulator, hbsms_conn, store) -> None:
    with pytest.raises(StalePullsError, match="has ever succeeded"):
        store.pulls.check_fresh(SIM_CORP_ID, "reports", timedelta(hours=1))
    Collector(HbSmsHook().client, store).drain_reports()
    store.pulls.check_fresh(SIM_CORP_ID, "reports", timedelta(hours=1))
    with pytest.raises(StalePullsError, match="ago"):
        store.pulls.check_fresh(SIM_CORP_ID, "reports", timedelta(0))
