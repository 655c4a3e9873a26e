"""The campaign's funnel from the store, and the report files (HTML page, PNG)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from airflow_provider_hbsms.operators.collect import HbSmsCollectOperator
from airflow_provider_hbsms.operators.report import HbSmsCampaignReportOperator
from airflow_provider_hbsms.operators.send import HbSmsPersonalizedSendOperator
from airflow_provider_hbsms.store.batch_states import BatchState
from airflow_provider_hbsms.ui import queries
from airflow_provider_hbsms.ui.funnel import Funnel, campaign_funnel
from airflow_provider_hbsms.ui.render import CHART_JS, chart_library, render_page
from airflow_provider_hbsms.ui.report import write_report
from airflow_provider_hbsms.ui.timeline import Timeline, campaign_timeline

RUN = "manual__2026-12-01T08:00:00+00:00"


def context(task_id: str = "send") -> dict[str, Any]:
    return {"ti": SimpleNamespace(dag_id="reminders", task_id=task_id, run_id=RUN, map_index=-1)}


@pytest.fixture
def campaign(hbsms_gateway, hbsms_store) -> dict[str, Any]:
    """A sent campaign: 30 rows (2 invalid), 3 failed, 2 pending, 2 replies (1 opt-out)."""
    mobiles = [f"1390000{i:04d}" for i in range(28)] + ["12345", ""]
    rows = pd.DataFrame({"mobile": mobiles, "name": [f"客户{i}" for i in range(30)]})
    send = HbSmsPersonalizedSendOperator(
        task_id="send", input=rows, template="{name}，账单已出", ext="5", on_invalid="skip"
    )
    result = send.execute(context())
    failed = {m: "DB:0141" for m in mobiles[:2]} | {mobiles[2]: "MK:0001"}
    hbsms_gateway.deliver(failed=failed)
    # Two messages are sent later and not reported yet: their reports are dropped.
    late = [m for m in hbsms_gateway._reports if m.mobile in mobiles[26:28]]
    for report in late:
        hbsms_gateway._reports.remove(report)
    hbsms_gateway.reply(mobiles[5], "TD", "5")
    hbsms_gateway.reply(mobiles[6], "收到", "5")
    HbSmsCollectOperator(task_id="collect").execute(context("collect"))
    return result


def test_funnel_counts_every_stage(campaign, hbsms_store) -> None:
    funnel = campaign_funnel(hbsms_store, campaign["campaign_key"])
    assert (funnel.dag_id, funnel.task_id, funnel.run_id) == ("reminders", "send", RUN)
    assert (funnel.rows, funnel.valid, funnel.invalid) == (30, 28, 2)
    assert (funnel.sent, funnel.accepted, funnel.refused) == (28, 28, 0)
    assert (funnel.delivered, funnel.failed, funnel.pending) == (23, 3, 2)
    assert funnel.failed_by_reason == {"DB:0141 failed": 2, "MK:0001 failed": 1}
    assert (funnel.replies, funnel.opt_outs) == (2, 1)
    assert funnel.batches == {"accepted": 1}
    assert funnel.unknown_batches == []
    summary = hbsms_store.reports.summary(campaign["campaign_key"])
    assert (funnel.delivered, funnel.failed, funnel.pending) == (
        summary.delivered,
        summary.failed,
        summary.pending,
    )
    assert funnel.stages() == [
        ("rows", 30),
        ("valid", 28),
        ("sent", 28),
        ("accepted", 28),
        ("delivered", 23),
    ]


def test_unregistered_campaign_is_named_by_its_key(hbsms_store) -> None:
    from airflow_provider_hbsms.store.sent import SentColumns

    key = "older_dag/send/manual__2026-11-01T00:00:00+00:00"
    messages = SentColumns(["m1"], ["13900000001"], [""], [1])
    hbsms_store.ledger.claim(
        batch_key="b0",
        campaign_key=key,
        batch_no=0,
        endpoint="/hSmsSend.do",
        content_hash="h",
        submitted=1,
        segments=1,
        messages=messages,
    )
    hbsms_store.ledger.settle("b0", "accepted", accepted=1)
    funnel = campaign_funnel(hbsms_store, key)
    assert (funnel.dag_id, funnel.task_id) == ("older_dag", "send")
    assert (funnel.rows, funnel.sent, funnel.accepted, funnel.pending) == (None, 1, 1, 1)
    assert [s[0] for s in funnel.stages()] == ["sent", "accepted", "delivered"]
    assert queries.campaigns_of_run(hbsms_store, "older_dag", funnel.run_id) == [key]


def test_unknown_batches_are_listed(campaign, hbsms_store) -> None:
    key = campaign["campaign_key"]
    (batch,) = hbsms_store.ledger.batches(key).values()
    hbsms_store.ledger.settle(batch.batch_key, BatchState.UNKNOWN, error="read timeout")
    funnel = campaign_funnel(hbsms_store, key)
    assert funnel.unknown_batches == [0]
    assert funnel.accepted == 0


def test_timeline_ends_at_the_funnel(campaign, hbsms_store) -> None:
    key = campaign["campaign_key"]
    timeline = campaign_timeline(hbsms_store, key, points=10)
    assert 1 <= len(timeline.times) <= 10
    last = {name: values[-1] for name, values in timeline.series.items()}
    assert last == {"sent": 28, "accepted": 28, "delivered": 23, "failed": 3, "replies": 2}
    for values in timeline.series.values():
        assert values == sorted(values)  # cumulative


def test_run_and_task_find_their_campaign(campaign, hbsms_store) -> None:
    key = campaign["campaign_key"]
    assert queries.campaign_of_task(hbsms_store, "reminders", RUN, "send") == key
    assert queries.campaign_of_task(hbsms_store, "reminders", RUN, "collect") is None
    assert queries.campaigns_of_run(hbsms_store, "reminders", RUN) == [key]
    assert queries.campaigns_of_run(hbsms_store, "reminders", "other") == []
    (listed,) = queries.recent_campaigns(hbsms_store)
    assert (listed["campaign_key"], listed["dag_id"], listed["run_id"]) == (key, "reminders", RUN)


def test_report_files_are_self_contained(campaign, hbsms_store, tmp_path) -> None:
    files = write_report(hbsms_store, [campaign["campaign_key"]], tmp_path / "out")
    page = files.html.read_text(encoding="utf-8")
    assert "<script src" not in page
    assert "http" not in page.split("<script>")[0]
    assert chart_library()[:2000] in page  # Chart.js inlined, no CDN
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', page))
    assert counts == {
        "rows": "30",
        "valid": "28",
        "sent": "28",
        "accepted": "28",
        "delivered": "23",
        "failed": "3",
        "pending": "2",
        "unknown_batches": "0",
        "replies": "2",
        "opt_outs": "1",
    }
    data = json.loads(re.search(r'id="hbsms-data">(.*?)</script>', page).group(1))
    assert data["campaigns"][0]["funnel"]["failed_by_reason"]["DB:0141 failed"] == 2
    assert files.png is not None
    assert files.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_operator_reports_the_runs_campaigns(campaign, hbsms_store, tmp_path) -> None:
    report = HbSmsCampaignReportOperator(task_id="report", output_dir=str(tmp_path))
    result = report.execute(context("report"))
    assert result["html"] == str(tmp_path / "send.html")
    assert result["png"] == str(tmp_path / "send.png")
    (counts,) = result["campaigns"]
    assert (counts["campaign_key"], counts["delivered"]) == (campaign["campaign_key"], 23)
    json.dumps(result)  # fits in XCom


def test_page_escapes_what_it_shows(hbsms_store) -> None:
    funnel = Funnel('<script>alert("x")</script>')
    timeline = Timeline([], [], {})
    page = render_page("T", [(funnel, timeline, [])], inline_library=False)
    assert '<script>alert("x")' not in page
    assert f'<script src="static/{CHART_JS}">' in page
