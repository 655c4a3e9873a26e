"""The send operators against the simulator: exactly once across retries, validation, window,
dry run, balance, opt-outs, inputs, and mapped shards sharing a PostgreSQL ledger."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_hbsms import HbSmsError, HbSmsValidationError, UnsettledBatchesError
from airflow_provider_hbsms.campaign.engine import Campaign
from airflow_provider_hbsms.campaign.inputs import row_source
from airflow_provider_hbsms.campaign.plan import CampaignOptions
from airflow_provider_hbsms.campaign.spec import MessageSpec
from airflow_provider_hbsms.campaign.window import SendWindow
from airflow_provider_hbsms.hooks.hbsms import HbSmsHook
from airflow_provider_hbsms.operators.send import (
    HbSmsPersonalizedSendOperator,
    HbSmsSendOperator,
)
from tests.fixtures.operators import RUN, context, customers, personalized


def test_personalized_campaign_from_a_dataframe(simulator, hbsms_conn, store) -> None:
    result = personalized(customers(450), store).execute(context())
    assert result["messages"] == result["submitted"] == result["accepted"] == 450
    assert (result["batches"], result["invalid"], result["dropped_by_gateway"]) == (3, 0, 0)
    received = simulator.received()
    assert sorted(m.mobile for m in received) == sorted(customers(450)["mobile"])
    first = next(m for m in received if m.mobile == "13900000002")
    assert first.content == "尊敬的客户2，您的余额为3.0元"
    assert result["campaign_key"] == "d/send/" + RUN
    assert len({m.msg_id for m in received}) == 450  # ids match reports back per message


def test_bad_rows_are_named_and_nothing_is_sent(simulator, hbsms_conn, store) -> None:
    frame = pd.DataFrame(
        {
            "mobile": [
                "13900000000",
                "12345",
                "13900000002",
                "13900000003",
                "13900000004",
                "13900000005",
            ],
            "text": ["ok", "ok", "smile 😀", "x" * 1001, "a&group&b", ""],
        }
    )
    op = HbSmsPersonalizedSendOperator(
        task_id="send", input=frame, content_column="text", store_url=str(store.engine.url)
    )
    with pytest.raises(HbSmsValidationError) as caught:
        op.execute(context())
    message = str(caught.value)
    assert "5 invalid" in message
    for expected in (
        "row 1: mobile",
        "row 2: content: has characters GBK cannot encode: '😀'",
        "row 3: content: must be at most 1000 characters",
        "row 4: content: must not contain",
        "row 5: content: must not be empty",
    ):
        assert expected in message
    assert simulator.stats()["requests"] == {}


def test_missing_template_field_is_an_error_not_none(simulator, hbsms_conn, store) -> None:
    frame = customers(3)
    frame.loc[1, "name"] = None
    with pytest.raises(HbSmsValidationError, match="row 1: name: template field is empty"):
        personalized(frame, store).execute(context())
    with pytest.raises(HbSmsValidationError, match="nickname: column not in the input"):
        personalized(customers(3), store, template="{nickname}").execute(context())
    assert simulator.received() == []


def test_skip_invalid_rows_and_write_rejects(simulator, hbsms_conn, store, tmp_path) -> None:
    frame = customers(5)
    frame.loc[3, "mobile"] = "not-a-number"
    rejects = tmp_path / "rejects.csv"
    result = personalized(frame, store, on_invalid="skip", rejects_path=str(rejects)).execute(
        context()
    )
    assert (result["invalid"], result["accepted"]) == (1, 4)
    assert "row 3: mobile" in result["invalid_rows"][0]
    assert pd.read_csv(rejects).to_dict("records")[0]["row"] == 3


def test_close_after_processing_then_retry_then_resend_unknown(
    simulator, hbsms_conn, store
) -> None:
    """The fault bar: batch k's connection drops after the gateway processed it."""
    frame = customers(1000)  # 5 batches
    simulator.inject_fault("close_after_processing", endpoint="/hSmsSend.do", after=2)
    with pytest.raises(UnsettledBatchesError) as caught:
        personalized(frame, store).execute(context())
    assert caught.value.batches == [2]
    assert "batch(es) 2" in str(caught.value)
    assert len(simulator.received()) == 600  # batches 0, 1 and (unbeknown to us) 2

    # Airflow's retry: batches 3 and 4 go out, 0-1 are skipped, 2 is not resent blindly.
    with pytest.raises(UnsettledBatchesError) as again:
        personalized(frame, store).execute(context())
    assert again.value.batches == [2]
    counts = Counter(m.mobile for m in simulator.received())
    assert len(counts) == 1000
    assert set(counts.values()) == {1}
    assert simulator.stats()["requests"]["/hSmsSend.do"] == 5

    # The user opts in: batch 2 is sent once more, and only it.
    result = personalized(frame, store, resend_unknown=True).execute(context())
    assert (result["resent_batches"], result["skipped_batches"], result["submitted"]) == (1, 4, 200)
    counts = Counter(m.mobile for m in simulator.received())
    assert sorted(Counter(counts.values()).items()) == [(1, 800), (2, 200)]


def test_bulk_send_dedupes_honours_opt_outs_and_checks_balance(
    simulator, hbsms_conn, store
) -> None:
    numbers = ["13800000001", "+86 138-0000-0002", "13800000001", "13800000003", "13800000004"]
    store.opt_outs.add(["13800000003"], source="reply", keyword="TD")
    op = HbSmsSendOperator(
        task_id="notice",
        input=numbers,
        content="明天停水，请提前储水。",
        store_url=str(store.engine.url),
    )
    result = op.execute(context("notice"))
    assert (result["duplicates"], result["opted_out"], result["accepted"]) == (1, 1, 3)
    assert sorted(m.mobile for m in simulator.received()) == [
        "13800000001",
        "13800000002",
        "13800000004",
    ]
    simulator.update_account("test", balance=1)
    low = HbSmsSendOperator(
        task_id="other", input=numbers, content="hi", store_url=str(store.engine.url)
    )
    with pytest.raises(HbSmsError, match="does not cover the estimated cost"):
        low.execute(context("other"))
    assert len(simulator.received()) == 3


def test_dry_run_sends_nothing(simulator, hbsms_conn, store, tmp_path) -> None:
    frame = customers(301)
    frame.loc[300, "mobile"] = "110"
    rejects = tmp_path / "rejects.csv"
    op = personalized(
        frame,
        store,
        dry_run=True,
        price_per_segment="0.05",
        on_invalid="skip",
        rejects_path=str(rejects),
    )
    result = op.execute(context())
    assert pd.read_csv(rejects)["row"].tolist() == [300]  # the rows to fix, before any send
    # BaseOperator's own dry_run() (render templates, log) is not shadowed by the option.
    HbSmsSendOperator(task_id="notice", input=["13800138000"], content="hi", dry_run=True).dry_run()
    assert result["dry_run"]
    assert result["messages"] == 300
    assert result["billed_segments"] == 300
    assert result["estimated_cost"] == "15.00"
    assert simulator.stats()["requests"] == {}


def test_outside_the_window_waits_or_fails(simulator, hbsms_conn, store) -> None:
    now = datetime.now(UTC).astimezone(SendWindow.parse(("08:00", "09:00")).timezone)
    closed = (
        (now + timedelta(hours=2)).strftime("%H:%M"),
        (now + timedelta(hours=3)).strftime("%H:%M"),
    )
    with pytest.raises(TaskDeferred) as deferred:
        personalized(customers(3), store, send_window=closed).execute(context())
    assert deferred.value.method_name == "execute_after_wait"
    with pytest.raises(HbSmsError, match="outside the send window"):
        personalized(customers(3), store, send_window=closed, outside_window="fail").execute(
            context()
        )
    assert simulator.received() == []


def test_window_closing_mid_campaign_pauses_and_resumes(simulator, hbsms_conn, store) -> None:
    window = SendWindow.parse(("08:00", "21:00"))
    open_, closed = (
        datetime(2026, 1, 5, 12, tzinfo=window.timezone),
        datetime(2026, 1, 5, 22, tzinfo=window.timezone),
    )
    ticks = iter([open_, open_, closed, closed])
    spec = MessageSpec("personalized", content_column="text")
    frame = pd.DataFrame({"mobile": [f"137{i:08d}" for i in range(800)], "text": ["hi"] * 800})
    campaign = Campaign("window-test", spec, row_source(frame), CampaignOptions())
    client = HbSmsHook().client
    report = campaign.send(client, store.ledger, window, clock=lambda: next(ticks))
    assert report.batches_sent == 2
    assert report.paused_until == datetime(2026, 1, 6, 8, tzinfo=window.timezone)
    resumed = campaign.send(client, store.ledger, window, clock=lambda: open_)
    assert (resumed.skipped_batches, resumed.batches_sent) == (2, 2)
    assert len(simulator.received()) == 800


@pytest.mark.postgres
def test_mapped_shards_share_a_postgres_ledger(simulator, hbsms_conn, postgres_url) -> None:
    """Two mapped task instances send disjoint shards concurrently, each retried twice."""
    shards = [customers(600, 0), customers(600, 600)]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        for _ in range(3):  # first try and two retries of the same task instance
            op = HbSmsPersonalizedSendOperator(
                task_id="send", input=shards[index], content_column="name", store_url=postgres_url
            )
            try:
                op.execute(context(map_index=index))
            except BaseException as exc:  # surfaced below
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    counts = Counter(m.mobile for m in simulator.received())
    assert len(counts) == 1200
    assert set(counts.values()) == {1}


def test_four_connections_fault_then_retry_sends_every_number_once(
    simulator, hbsms_conn, store
) -> None:
    """With 4 requests in flight, a dropped connection stops the campaign; requests already out
    finish and are settled, bodies not yet posted are given back, and the retry sends exactly
    what is missing."""
    frame = customers(4000)  # 20 batches
    simulator.inject_fault("close_after_processing", endpoint="/hSmsSend.do", after=9)
    with pytest.raises(UnsettledBatchesError) as caught:
        personalized(frame, store, connections=4).execute(context())
    assert len(caught.value.batches) == 1
    first_try = len(simulator.received())
    assert 2000 <= first_try < 4000  # ten requests processed, a few more may have been out

    with pytest.raises(UnsettledBatchesError) as again:  # the unknown batch is not resent
        personalized(frame, store, connections=4).execute(context())
    assert again.value.batches == caught.value.batches
    counts = Counter(m.mobile for m in simulator.received())
    assert len(counts) == 4000
    assert set(counts.values()) == {1}
    ledger = store.ledger.batches("d/send/" + RUN)
    states = Counter(b.state for b in ledger.values())
    assert states == {"accepted": 19, "unknown": 1}


def test_personalized_campaign_leaves_out_opted_out_numbers(simulator, hbsms_conn, store) -> None:
    """Numbers on the opt-out list are left out of a personalized campaign too, whatever the
    column storage (pandas' default Arrow strings here)."""
    frame = customers(450)
    assert str(frame["mobile"].dtype) == "str"
    store.opt_outs.add(["13900000007", "13900000301"], source="reply", keyword="退订")
    result = personalized(frame, store).execute(context())
    assert (result["opted_out"], result["messages"], result["accepted"]) == (2, 448, 448)
    received = {m.mobile for m in simulator.received()}
    assert len(received) == 448
    assert not received & {"13900000007", "13900000301"}


def test_sent_messages_are_journaled_then_indexed_by_their_first_reader(
    simulator, hbsms_conn, store
) -> None:
    """A claim journals its batch's messages in one row; the per-message rows that reports and
    replies are matched with are built when first needed, once, whoever needs them first."""
    from sqlalchemy import func, select

    from airflow_provider_hbsms.protocol import Reply
    from airflow_provider_hbsms.store.schema import batch_messages, sent_messages

    def counts() -> tuple[int, int]:
        with store.engine.connect() as conn:
            indexed = conn.execute(select(func.count()).select_from(sent_messages)).scalar_one()
            waiting = conn.execute(
                select(func.count())
                .select_from(batch_messages)
                .where(batch_messages.c.expanded == 0)
            ).scalar_one()
        return int(indexed), int(waiting)

    result = personalized(customers(450), store, ext="7").execute(context())
    assert counts() == (0, 3)  # sending did not index
    # A reply arrives before anyone asked for statuses: it is still attributed.
    added = store.replies.add([Reply("13900000123", "收到", "7")], source="push")
    assert counts() == (450, 0)
    found = store.replies.find(campaign_key=result["campaign_key"])
    assert [r.mobile for r in found] == ["13900000123"]
    assert found[0].msg_id is not None
    assert found[0].msg_id.endswith("-123")
    assert added.new == 1
    summary = store.reports.summary(campaign_key=result["campaign_key"])
    assert (summary.total, counts()) == (450, (450, 0))  # indexed once


def test_a_batch_claimed_but_never_sent_goes_out_on_the_retry(
    simulator, hbsms_conn, store, monkeypatch
) -> None:
    """Anything failing between a batch's claim and its hand-over to a sender (here a bug in
    building its body) leaves it settled as not sent, so the retry sends it without asking."""
    from airflow_provider_hbsms.campaign import spec

    real = spec.personalized_body
    calls = {"n": 0}

    def third_fails(*args: Any, **kwargs: Any) -> bytes:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(spec, "personalized_body", third_fails)
    with pytest.raises(RuntimeError, match="disk full"):
        personalized(customers(1000), store).execute(context())
    states = {b.batch_no: b.state for b in store.ledger.batches("d/send/" + RUN).values()}
    assert states == {0: "accepted", 1: "accepted", 2: "rejected"}
    monkeypatch.setattr(spec, "personalized_body", real)
    result = personalized(customers(1000), store).execute(context())
    assert (result["skipped_batches"], result["submitted"]) == (2, 600)
    counts = Counter(m.mobile for m in simulator.received())
    assert len(counts) == 1000
    assert set(counts.values()) == {1}
