"""Sensors and triggers against the simulator: poke, defer, trigger events, event trigger."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_hbsms import AuthenticationError, HbSmsError, WaitFailedError
from airflow_provider_hbsms.protocol import Reply
from airflow_provider_hbsms.sensors.delivery import HbSmsDeliveryReportSensor
from airflow_provider_hbsms.sensors.reply import HbSmsReplySensor
from airflow_provider_hbsms.triggers.delivery import HbSmsDeliveryTrigger
from airflow_provider_hbsms.triggers.reply import HbSmsReplyEventTrigger, HbSmsReplyTrigger
from airflow_provider_hbsms.waiting import ReplyCondition
from tests.fixtures.operators import context, send_campaign
from tests.fixtures.simulator import connection_for, sim_account


@pytest.fixture
def delayed(simulator_factory, monkeypatch, tmp_path):
    """A simulator whose reports wait an hour unless flushed, and its connection."""
    sim = simulator_factory(accounts=[sim_account()], report_delay=3600, failure_ratio=0.25, seed=1)
    monkeypatch.setenv("AIRFLOW_CONN_HBSMS_DEFAULT", connection_for(sim).as_json())
    monkeypatch.setenv("HBSMS_PACING_DIR", str(tmp_path / "pacing"))
    return sim


def test_delivery_sensor_pokes_until_final(delayed, store) -> None:
    sent = send_campaign(store)
    sensor = HbSmsDeliveryReportSensor(
        task_id="wait", campaign_key=sent, store_url=str(store.engine.url), poke_interval=0.1
    )
    assert sensor.poke(context()).is_done is False
    delayed.flush_reports()
    result = sensor.poke(context())
    assert result.is_done
    summary = result.xcom_value
    assert summary["total"] == 20
    assert summary["pending"] == 0
    assert summary["is_final"]
    assert summary["delivered"] + summary["failed"] == 20


def test_delivered_fraction_target(delayed, store) -> None:
    sent = send_campaign(store)
    delayed.flush_reports()
    sensor = HbSmsDeliveryReportSensor(
        task_id="wait",
        campaign_key=sent["campaign_key"],
        min_delivered_fraction=0.5,
        store_url=str(store.engine.url),
    )
    assert sensor.poke(context()).xcom_value["delivered_fraction"] >= 0.5


def test_deferrable_delivery_sensor_and_its_trigger(delayed, store) -> None:
    sent = send_campaign(store)
    sensor = HbSmsDeliveryReportSensor(
        task_id="wait",
        campaign_key=sent,
        store_url=str(store.engine.url),
        deferrable=True,
        poke_interval=0.05,
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, HbSmsDeliveryTrigger)
    _classpath, kwargs = trigger.serialize()
    assert "s3cret" not in repr(kwargs)
    rebuilt = HbSmsDeliveryTrigger(**kwargs)  # as the triggerer does

    async def first_event():
        agen = rebuilt.run()
        task = asyncio.ensure_future(agen.__anext__())
        await asyncio.sleep(0.3)
        assert not task.done()  # still waiting, and the loop kept running meanwhile
        delayed.flush_reports()
        return await asyncio.wait_for(task, timeout=10)

    event = asyncio.run(first_event())
    assert event.payload["status"] == "success"
    assert sensor.execute_complete(context(), event.payload)["total"] == 20


def test_reply_sensor_and_trigger(delayed, store) -> None:
    sent = send_campaign(store, ext="77")
    sensor = HbSmsReplySensor(
        task_id="reply",
        campaign_key=sent,
        pattern="^(Y|是)",
        store_url=str(store.engine.url),
        since=datetime.now(UTC) - timedelta(minutes=1),
    )
    delayed.inject_reply("13600000003", "不了", "77")
    assert sensor.poke(context()).is_done is False
    delayed.inject_reply("13600000004", "是的", "77")
    found = sensor.poke(context()).xcom_value
    assert [r["mobile"] for r in found] == ["13600000004"]
    assert found[0]["campaign_key"] == sent["campaign_key"]
    trigger = HbSmsReplyTrigger(sensor._condition(context()).serialize(), poll_interval=0.05)
    event = asyncio.run(asyncio.wait_for(trigger.run().__anext__(), timeout=10))
    assert event.payload["replies"][0]["content"] == "是的"


def test_event_trigger_fires_for_each_new_batch_of_replies(delayed, store) -> None:
    trigger = HbSmsReplyEventTrigger(
        {"store_url": str(store.engine.url), "pattern": "退订|TD"}, poll_interval=0.05
    )
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith("HbSmsReplyEventTrigger")

    async def two_events():
        agen = HbSmsReplyEventTrigger(**kwargs).run()
        delayed.inject_reply("13600000002", "TD", "")
        first = await asyncio.wait_for(agen.__anext__(), timeout=10)
        delayed.inject_reply("13600000003", "退订", "")
        second = await asyncio.wait_for(agen.__anext__(), timeout=10)
        await agen.aclose()
        return first, second

    first, second = asyncio.run(two_events())
    assert [r["mobile"] for r in first.payload["replies"]] == ["13600000002"]
    assert [r["mobile"] for r in second.payload["replies"]] == ["13600000003"]
    assert second.payload["last_id"] > first.payload["last_id"]


def test_event_trigger_reports_replies_stored_while_it_was_not_running(delayed, store) -> None:
    """A triggerer restart: replies stored meanwhile (by the push receiver, say) still fire."""
    kwargs = HbSmsReplyEventTrigger(
        {"store_url": str(store.engine.url), "pattern": "退订|TD"}, poll_interval=0.05
    ).serialize()[1]

    async def next_event():
        agen = HbSmsReplyEventTrigger(**kwargs).run()
        try:
            return await asyncio.wait_for(agen.__anext__(), timeout=10)
        finally:
            await agen.aclose()

    async def first_run():
        agen = HbSmsReplyEventTrigger(**kwargs).run()
        delayed.inject_reply("13600000002", "TD", "")
        event = await asyncio.wait_for(agen.__anext__(), timeout=10)
        # The triggerer stops here; the recorded position is the next __anext__'s first step.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(agen.__anext__(), timeout=0.3)
        await agen.aclose()
        return event

    first = asyncio.run(first_run())
    assert [r["mobile"] for r in first.payload["replies"]] == ["13600000002"]
    # While no triggerer runs the watcher, the receiver stores two replies.
    store.replies.add([Reply("13600000004", "退订", ""), Reply("13600000005", "好的", "")], "push")
    resumed = asyncio.run(next_event())
    assert [r["mobile"] for r in resumed.payload["replies"]] == ["13600000004"]
    assert resumed.payload["last_id"] > first.payload["last_id"]


# ------------------------------------------------------------------ riding out gateway troubles


def _delivery_sensor(store, sent, **kwargs) -> HbSmsDeliveryReportSensor:
    return HbSmsDeliveryReportSensor(
        task_id="wait", campaign_key=sent, store_url=str(store.engine.url), **kwargs
    )


@pytest.mark.parametrize("fault", ["http_500", "close_before_processing"])
def test_sensor_rides_out_passing_gateway_failures(delayed, store, fault) -> None:
    sent = send_campaign(store)
    delayed.flush_reports()
    delayed.inject_fault(fault, endpoint="/post_report.do", count=3)
    sensor = _delivery_sensor(store, sent, poke_interval=0.05, max_consecutive_failures=3)
    for _ in range(3):  # each failed check: not done, not failed, retried at the next poke
        assert sensor.poke(context()).is_done is False
    assert sensor.poke(context()).is_done


def test_sensor_fails_past_the_limit_with_the_last_error(delayed, store) -> None:
    sent = send_campaign(store)
    delayed.inject_fault("http_500", endpoint="/post_report.do", count=None)
    sensor = _delivery_sensor(store, sent, max_consecutive_failures=2)
    assert sensor.poke(context()).is_done is False
    assert sensor.poke(context()).is_done is False
    with pytest.raises(WaitFailedError, match="3 checks in a row failed") as caught:
        sensor.poke(context())
    assert "PullReplyLostError" in str(caught.value)
    assert "HTTP 500" in str(caught.value)


def test_sensor_count_starts_again_after_a_good_check(delayed, store) -> None:
    sent = send_campaign(store)
    sensor = _delivery_sensor(store, sent, max_consecutive_failures=1)
    for _ in range(3):  # fail, succeed, fail, ...: never two in a row
        delayed.inject_fault("http_500", endpoint="/post_report.do", count=1)
        assert sensor.poke(context()).is_done is False
        assert sensor.poke(context()).is_done is False


def test_sensor_fails_at_once_on_what_no_retry_cures(simulator_factory, monkeypatch, store) -> None:
    sim = simulator_factory(accounts=[sim_account()], report_delay=3600)
    conn = connection_for(sim)
    conn.password = "wrong"
    monkeypatch.setenv("AIRFLOW_CONN_HBSMS_DEFAULT", conn.as_json())
    sensor = _delivery_sensor(store, "some-campaign", max_consecutive_failures=5)
    with pytest.raises(AuthenticationError):
        sensor.poke(context())


def test_sensor_in_reschedule_mode_keeps_its_count_in_the_store(delayed, store) -> None:
    sent = send_campaign(store)
    delayed.inject_fault("http_500", endpoint="/post_report.do", count=None)

    def fresh() -> HbSmsDeliveryReportSensor:  # each reschedule is a new instance
        return _delivery_sensor(store, sent, mode="reschedule", max_consecutive_failures=1)

    assert fresh().poke(context(task_id="wait")).is_done is False
    with pytest.raises(WaitFailedError):
        fresh().poke(context(task_id="wait"))
    delayed.clear_faults()
    assert fresh().poke(context(task_id="wait")).is_done is False  # a task retry starts at 0


def _run_trigger(trigger, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    async def first():
        return await asyncio.wait_for(trigger.run().__anext__(), timeout)

    return asyncio.run(first())


def test_trigger_rides_out_failures_then_fires(delayed, store) -> None:
    sent = send_campaign(store)
    delayed.flush_reports()
    delayed.inject_fault("close_before_processing", endpoint="/post_report.do", count=2)
    sensor = _delivery_sensor(store, sent, deferrable=True, poke_interval=0.05)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context())  # its first check failed: it defers all the same
    _classpath, kwargs = deferred.value.trigger.serialize()
    assert kwargs["failures"] == 1
    event = _run_trigger(HbSmsDeliveryTrigger(**kwargs))
    assert event.payload["status"] == "success"
    assert event.payload["summary"]["total"] == 20


def test_trigger_reports_the_last_error_past_the_limit(delayed, store) -> None:
    sent = send_campaign(store)
    delayed.inject_fault("http_500", endpoint="/post_report.do", count=None)
    sensor = _delivery_sensor(
        store, sent, deferrable=True, poke_interval=0.05, max_consecutive_failures=3
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context())
    _classpath, kwargs = deferred.value.trigger.serialize()
    event = _run_trigger(HbSmsDeliveryTrigger(**kwargs))
    assert event.payload["status"] == "error"
    assert "4 checks in a row failed" in event.payload["message"]
    assert "HTTP 500" in event.payload["message"]
    with pytest.raises(HbSmsError, match="HTTP 500"):
        sensor.execute_complete(context(), event.payload)


def test_event_trigger_rides_out_failures(delayed, store) -> None:
    delayed.inject_fault("http_500", endpoint="/post_deliverMsg.do", count=2)
    condition = ReplyCondition(store_url=str(store.engine.url))
    trigger = HbSmsReplyEventTrigger(condition.serialize(), poll_interval=0.05)
    delayed.inject_reply("13600000001", "好的")
    event = _run_trigger(trigger)
    assert event.payload["count"] == 1
