"""Recipients' data: never rendered into the metadata database, masked in logs, purged on
schedule while the counts stay."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from airflow.sdk import DAG
from sqlalchemy import Table, select, update

from airflow_provider_hbsms import HbSmsValidationError
from airflow_provider_hbsms.operators.purge import HbSmsPurgeOperator
from airflow_provider_hbsms.protocol.models import Reply
from airflow_provider_hbsms.store import Store, open_store
from airflow_provider_hbsms.store.purge import purge_campaign, purge_older_than
from airflow_provider_hbsms.store.schema import (
    batch_messages,
    dead_letters,
    inbound,
    quarantine,
    rejects,
    replies,
    reports,
    send_batches,
    sent_messages,
)
from tests.fixtures.dag_runs import run_dag
from tests.fixtures.operators import context, customers, personalized

# ------------------------------------------------------------------ not rendered


def test_a_templated_path_is_still_rendered(simulator, hbsms_conn, store, tmp_path) -> None:
    customers(3).to_parquet(tmp_path / "2026-01-02.parquet")
    with DAG("render_input", schedule=None, start_date=datetime(2026, 1, 1)):
        op = personalized(str(tmp_path / "{{ ds }}.parquet"), store)
    ctx = {**context(), "ds": "2026-01-02"}
    assert op._input(ctx) == str(tmp_path / "2026-01-02.parquet")
    assert op.execute(ctx)["accepted"] == 3


def test_numbers_are_masked_in_logs_errors_and_xcom(simulator, hbsms_conn, store, caplog) -> None:
    frame = customers(3)
    frame.loc[1, "mobile"] = "12345678901"  # invalid: not a mobile number
    frame.loc[2, "name"] = "坏\x00名"  # invalid: a control character in the rendered text
    with caplog.at_level(logging.INFO), pytest.raises(HbSmsValidationError) as raised:
        personalized(frame, store).execute(context())
    shown = caplog.text + str(raised.value)
    assert "123****8901" in shown
    assert "12345678901" not in shown
    assert "坏" not in shown
    result = personalized(frame, store, on_invalid="skip", task_id="skip").execute(context("skip"))
    assert result["invalid_rows"][0].endswith("(got '123****8901')")
    assert not any("12345678901" in row for row in result["invalid_rows"])
    asked = personalized(
        frame, store, on_invalid="skip", show_personal_data=True, task_id="asked"
    ).execute(context("asked"))
    assert any("12345678901" in row for row in asked["invalid_rows"])


@pytest.mark.airflow_run
def test_the_example_keeps_recipients_out_of_the_metadata_database(
    airflow_home,
    simulator_factory,
    tmp_path,
) -> None:
    simulator = simulator_factory(report_delay=0.5)
    simulator.inject_reply("13900010007", "TD", "88")  # the first answer the example waits for
    output, _, _ = run_dag(airflow_home, "hbsms_example_campaign", simulator, tmp_path)
    recipient_numbers = [m.mobile for m in simulator.received()]
    assert len(recipient_numbers) == 40
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        rendered = [
            row[0]
            for row in db.execute(
                "select rendered_fields from rendered_task_instance_fields "
                "where dag_id = 'hbsms_example_campaign'"
            )
        ]
        xcoms = {
            row[0]: row[1]
            for row in db.execute(
                "select task_id, value from xcom where dag_id = 'hbsms_example_campaign'"
            )
        }
    assert rendered  # the runs' rendered fields were stored ...
    blob = json.dumps(rendered, ensure_ascii=False)
    assert "张伟" not in blob  # ... without the recipients
    assert "139-0001" not in blob
    path = json.loads(xcoms["recipients"])
    assert isinstance(path, str)
    assert path.endswith(".parquet")  # a readable path, not a serialized DataFrame
    logs = output + "".join(
        p.read_text(errors="replace") for p in (airflow_home / "logs").rglob("*") if p.is_file()
    )
    assert not any(number in logs for number in recipient_numbers)


# ------------------------------------------------------------------ purge


def _campaign(simulator, store: Store, task_id: str, n: int = 5) -> str:
    frame = pd.DataFrame(
        {
            "mobile": [f"1390000{i:04d}" for i in range(n)] + ["bad"],
            "name": [f"客户{i}" for i in range(n)] + ["x"],
            "balance": [*list(range(n)), 0],
        }
    )
    op = personalized(frame, store, on_invalid="skip", store_rejects=True, task_id=task_id)
    result = op.execute(context(task_id))
    return str(result["campaign_key"])


def _reports_and_replies(simulator, hbsms_conn, store: Store) -> None:
    from airflow_provider_hbsms.collector import Collector
    from airflow_provider_hbsms.hooks.hbsms import HbSmsHook

    simulator.inject_reply("13900000001", "退订")
    Collector(HbSmsHook().client, store).drain_all()
    store.replies.add([Reply("13700000009", "谁？", "")], source="push")  # matched to nothing


def _age(store: Store, key: str, days: int) -> None:
    old = datetime.now(UTC) - timedelta(days=days)
    with store.engine.begin() as conn:
        conn.execute(
            update(send_batches).where(send_batches.c.campaign_key == key).values(updated_at=old)
        )
        conn.execute(update(replies).values(received_at=old))
        conn.execute(update(reports).values(received_at=old))
        conn.execute(update(inbound).values(received_at=old))


def _personal(store: Store, raw: tuple[Table, ...] = ()) -> str:
    """Every value of every row of the tables that can hold personal data, as one string
    (with ``raw``: also the bodies kept as received, which only the retention sweep removes)."""
    with store.engine.connect() as conn:
        return repr(
            [
                conn.execute(select(table)).all()
                for table in (sent_messages, reports, replies, batch_messages, rejects, *raw)
            ]
        )


def test_purge_removes_personal_data_and_keeps_counts(simulator, hbsms_conn, store) -> None:
    key = _campaign(simulator, store, "old")
    _reports_and_replies(simulator, hbsms_conn, store)
    before = store.reports.summary(campaign_key=key)
    assert before.total == 5
    assert "13900000001" in _personal(store)
    result = purge_campaign(store, key)
    assert (result.messages, result.reports, result.rejects) == (5, 5, 1)
    assert result.replies == 1
    after = store.reports.summary(campaign_key=key)
    assert after == before  # counts, statuses and reasons kept
    personal = _personal(store)
    assert not any(f"1390000{i:04d}" in personal for i in range(5))
    assert "退订" not in personal
    assert "客户" not in personal
    assert store.opt_outs.all() == {"13900000001"}  # still honoured
    assert purge_campaign(store, key).messages == 0  # idempotent


def test_retention_sweep_purges_only_what_is_old(simulator, hbsms_conn, store) -> None:
    old = _campaign(simulator, store, "old")
    _reports_and_replies(simulator, hbsms_conn, store)
    _age(store, old, days=40)
    store.keep_dead_letter("reports", "push", b"<13900000003", "malformed")
    with store.engine.begin() as conn:
        conn.execute(update(dead_letters).values(received_at=datetime.now(UTC) - timedelta(40)))
    new = _campaign(simulator, store, "new", n=2)
    result = purge_older_than(store, 30)
    assert result.campaigns == 1
    assert result.dead_letters == 1
    assert result.raw_bodies >= 2  # the pulled pages of reports and of replies, as received
    assert result.replies == 2  # the campaign's and the unmatched one
    personal = _personal(store, raw=(inbound, quarantine))
    assert "13900000003" not in personal
    assert "谁" not in personal
    with store.engine.connect() as conn:
        fresh = conn.execute(
            select(sent_messages.c.mobile).where(sent_messages.c.campaign_key == new)
        ).scalars()
        # Newer: untouched (13900000001 opted out, so it was not sent to again).
        assert sorted(fresh) == ["13900000000"]


def test_purge_operator_and_command(simulator, hbsms_conn, store, monkeypatch) -> None:
    key = _campaign(simulator, store, "old")
    _age(store, key, days=10)
    url = str(store.engine.url)
    with pytest.raises(ValueError, match="retention_days is not set"):
        HbSmsPurgeOperator(task_id="purge", store_url=url).execute(context("purge"))
    monkeypatch.setenv("AIRFLOW__HBSMS__RETENTION_DAYS", "30")
    assert HbSmsPurgeOperator(task_id="p", store_url=url).execute(context("p"))["campaigns"] == 0
    done = HbSmsPurgeOperator(task_id="p", store_url=url, retention_days=7).execute(context("p"))
    assert done["messages"] == 5
    command = [sys.executable, "-m", "airflow_provider_hbsms.store.purge", "--store-url", url]
    again = subprocess.run(
        [*command, "--older-than-days", "7"], capture_output=True, text=True, check=True
    )
    assert "messages=0" in again.stdout
    assert open_store(url=url).reports.summary(campaign_key=key).total == 5


@pytest.mark.postgres
def test_purge_on_postgres(simulator, hbsms_conn, pg_store) -> None:
    key = _campaign(simulator, pg_store, "old")
    _reports_and_replies(simulator, hbsms_conn, pg_store)
    before = pg_store.reports.summary(campaign_key=key)
    _age(pg_store, key, days=40)
    result = purge_older_than(pg_store, 30)
    assert (result.campaigns, result.messages, result.reports, result.replies) == (1, 5, 5, 2)
    assert pg_store.reports.summary(campaign_key=key) == before
    personal = _personal(pg_store)
    assert not any(f"1390000{i:04d}" in personal for i in range(5))
