"""One parameter vocabulary across operators, sensors and triggers: the connections and the
store (``params.py``), ``kinds=``, ``max_lag``, no parameter accepted and ignored, and one
``run`` for every trigger. The opt-out keywords setting: ``test_opt_out_setting.py``."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from sqlalchemy import update

from airflow_provider_hbsms.collector import Collector
from airflow_provider_hbsms.exceptions import RateLimitedError
from airflow_provider_hbsms.hooks.hbsms import HbSmsHook
from airflow_provider_hbsms.operators.collect import HbSmsCollectOperator
from airflow_provider_hbsms.operators.load import HbSmsLoadToSqlOperator
from airflow_provider_hbsms.operators.purge import HbSmsPurgeOperator
from airflow_provider_hbsms.operators.report import HbSmsCampaignReportOperator
from airflow_provider_hbsms.operators.send import HbSmsPersonalizedSendOperator, HbSmsSendOperator
from airflow_provider_hbsms.params import (
    DEFAULT_HBSMS_CONN_ID,
    DEFAULT_STORE_CONN_ID,
    GatewayAccess,
    StoreAccess,
)
from airflow_provider_hbsms.sensors.delivery import HbSmsDeliveryReportSensor
from airflow_provider_hbsms.sensors.reply import HbSmsReplySensor
from airflow_provider_hbsms.store.pulls import StalePullsError
from airflow_provider_hbsms.store.schema import pull_state
from airflow_provider_hbsms.triggers._base import ConditionPolling
from airflow_provider_hbsms.triggers.delivery import HbSmsDeliveryTrigger
from airflow_provider_hbsms.triggers.reply import HbSmsReplyEventTrigger, HbSmsReplyTrigger
from airflow_provider_hbsms.waiting import DeliveryCondition, ReplyCondition
from tests.fixtures.operators import context

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.sdk import BaseOperator

    from airflow_provider_hbsms.protocol.endpoints import Endpoint
    from airflow_provider_hbsms.store import Store
    from airflow_provider_hbsms.testing import FakeHbSmsClient

TASKS = (
    HbSmsSendOperator,
    HbSmsPersonalizedSendOperator,
    HbSmsCollectOperator,
    HbSmsLoadToSqlOperator,
    HbSmsPurgeOperator,
    HbSmsCampaignReportOperator,
    HbSmsDeliveryReportSensor,
    HbSmsReplySensor,
)
TRIGGERS = (HbSmsDeliveryTrigger, HbSmsReplyTrigger, HbSmsReplyEventTrigger)


def _parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword parameters of ``cls`` and of the provider's classes it builds on."""
    found: dict[str, inspect.Parameter] = {}
    for klass in reversed(cls.__mro__):
        if "__init__" in vars(klass) and klass.__module__.startswith("airflow_provider_hbsms"):
            found.update(inspect.signature(klass.__init__).parameters)
    return {n: p for n, p in found.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}


# ---------------------------------------------------------------- connections and the store


@pytest.mark.parametrize("cls", TASKS, ids=lambda c: c.__name__)
def test_every_task_shares_the_store_access(cls: type[BaseOperator]) -> None:
    params = _parameters(cls)
    assert issubclass(cls, StoreAccess)
    assert params["store_conn_id"].default is DEFAULT_STORE_CONN_ID
    assert params["store_url"].default is None
    assert "store_conn_id" in cls.template_fields
    assert "store_url" not in cls.template_fields  # it may hold a password
    doc = cls.__doc__ or ""
    assert doc.count(":param store_conn_id:") == doc.count(":param store_url:") == 1
    if "hbsms_conn_id" in params:
        assert issubclass(cls, GatewayAccess)
        assert params["hbsms_conn_id"].default == DEFAULT_HBSMS_CONN_ID
        assert "hbsms_conn_id" in cls.template_fields
        assert doc.count(":param hbsms_conn_id:") == 1
    # Every parameter the docstring names is one the class takes.
    documented = set(re.findall(r":param (\w+):", doc))
    assert documented <= set(params), documented - set(params)


def test_the_shared_docstring_is_one_text() -> None:
    shared = re.compile(r":param store_conn_id:.*?(?=:param|\Z)", re.S)
    texts = set()
    for cls in (*TASKS, DeliveryCondition, ReplyCondition):
        found = shared.search(inspect.getdoc(cls) or "")
        assert found is not None, cls
        texts.add(found.group().replace(" (templated)", ""))  # marked where it is templated
    assert len(texts) == 1
    assert HbSmsHook.default_conn_name == DEFAULT_HBSMS_CONN_ID


@pytest.mark.parametrize("cls", TRIGGERS, ids=lambda c: c.__name__)
def test_triggers_reach_gateway_and_store_through_their_condition(cls: type) -> None:
    condition = {"campaign_key": "k"} if cls is HbSmsDeliveryTrigger else {}
    trigger = cls(condition)
    built = trigger.condition_class(**trigger.condition)
    assert isinstance(built, GatewayAccess)
    assert built.hbsms_conn_id == DEFAULT_HBSMS_CONN_ID
    assert built.store_conn_id is DEFAULT_STORE_CONN_ID


def test_hook_and_store_are_made_once(hbsms_store: Store, hbsms_gateway: FakeHbSmsClient) -> None:
    op = HbSmsCollectOperator(task_id="c", store_url=str(hbsms_store.engine.url))
    assert op.store is op.store
    assert op.store.url == hbsms_store.url
    assert op.hook is op.hook
    assert op.hook.client is hbsms_gateway
    sensor = HbSmsReplySensor(task_id="r", store_url=str(hbsms_store.engine.url))
    condition = sensor._condition(context("r"))
    assert condition.store is condition.store


def test_store_conn_id_is_rendered_before_the_store_opens(monkeypatch, tmp_path) -> None:
    path = tmp_path / "rendered.db"
    monkeypatch.setenv(
        "AIRFLOW_CONN_STORE_20261201", f'{{"conn_type": "sqlite", "host": "{path}"}}'
    )
    ops = [
        HbSmsPurgeOperator(task_id="p", store_conn_id="store_{{ ds_nodash }}"),
        HbSmsCollectOperator(task_id="c", store_conn_id="store_{{ ds_nodash }}"),
        HbSmsReplySensor(task_id="r", store_conn_id="store_{{ ds_nodash }}"),
    ]
    for op in ops:
        op.render_template_fields({"ds_nodash": "20261201"})  # type: ignore[arg-type]
        assert op.store_conn_id == "store_20261201"
        assert op.store.engine.url.database == str(path)


# ---------------------------------------------------------------- kinds=


@pytest.mark.parametrize(
    ("build", "bad"),
    [
        (lambda k: HbSmsCollectOperator(task_id="c", kinds=k), "statuses"),
        (lambda k: HbSmsLoadToSqlOperator(task_id="l", sql_conn_id="w", kinds=k), "report"),
        (lambda k: HbSmsDeliveryReportSensor(task_id="d", campaign_key="k", kinds=k), "sent"),
        (lambda k: HbSmsReplySensor(task_id="r", kinds=k), "reply"),
        (lambda k: HbSmsReplyEventTrigger({"kinds": k}), "replys"),
        (lambda k: ReplyCondition(kinds=k), "Replies"),
    ],
)
def test_kinds_names_the_bad_value(build: Callable[[Any], Any], bad: str) -> None:
    with pytest.raises(ValueError, match=rf"kinds: '{bad}' is not a kind; choose from"):
        build(["reports", bad])


def test_kinds_take_one_kind_as_a_string_and_refuse_none() -> None:
    assert HbSmsCollectOperator(task_id="c", kinds="replies").kinds == ("replies",)
    assert HbSmsLoadToSqlOperator(task_id="l", sql_conn_id="w", kinds="statuses").kinds == (
        "statuses",
    )
    with pytest.raises(ValueError, match="choose at least one"):
        HbSmsCollectOperator(task_id="c", kinds=[])


def test_a_wait_must_drain_what_it_reads() -> None:
    with pytest.raises(ValueError, match="leaves out 'reports'"):
        HbSmsDeliveryReportSensor(task_id="d", campaign_key="k", kinds=["replies"])
    with pytest.raises(ValueError, match="leaves out 'replies'"):
        HbSmsReplyTrigger({"kinds": ["reports"]})


def test_kinds_without_collecting_is_refused() -> None:
    with pytest.raises(ValueError, match="collect is off"):
        HbSmsReplySensor(task_id="r", collect=False, kinds=["replies"])
    with pytest.raises(ValueError, match="collect is off"):
        DeliveryCondition(campaign_key="k", collect=False, kinds=["reports"])


def test_collect_drains_the_kinds_asked_for(hbsms_gateway, hbsms_store) -> None:
    HbSmsSendOperator(task_id="send", input=["13900000001"], content="通知").execute(context())
    hbsms_gateway.deliver()
    hbsms_gateway.reply("13900000001", "好")
    result = HbSmsCollectOperator(task_id="c", kinds="replies").execute(context("c"))
    assert set(result) == {"replies"}
    assert hbsms_store.reports.rows_after(0, 10) == []  # the report is still at the gateway
    result = HbSmsCollectOperator(task_id="c", kinds=["reports"]).execute(context("c"))
    assert (set(result), result["reports"]["new"]) == ({"reports"}, 1)


def test_a_sensor_can_drain_both_queues(hbsms_gateway, hbsms_store) -> None:
    sent = HbSmsSendOperator(task_id="send", input=["13900000001"], content="通知").execute(
        context()
    )
    hbsms_gateway.reply("13900000002", "TD")
    sensor = HbSmsDeliveryReportSensor(
        task_id="wait", campaign_key=sent, kinds=["reports", "replies"], poke_interval=1
    )
    assert not sensor.poke(context("wait")).is_done
    assert [r.mobile for r in hbsms_store.replies.find()] == ["13900000002"]
    assert hbsms_store.opt_outs.all() == {"13900000002"}


# ---------------------------------------------------------------- max_lag


def _last_pull_two_days_ago(store: Store) -> None:
    store.pulls.record_success("test", "reports")
    with store.engine.begin() as conn:
        conn.execute(
            update(pull_state).values(last_success_at=datetime.now(UTC) - timedelta(days=2))
        )


def test_max_lag_fails_the_collector_as_it_fails_the_operator(hbsms_gateway, hbsms_store) -> None:
    hbsms_gateway.pull_raw = _refused_as_too_soon  # type: ignore[method-assign]
    _last_pull_two_days_ago(hbsms_store)
    collector = Collector(HbSmsHook().client, hbsms_store, max_lag=timedelta(hours=12))
    with pytest.raises(StalePullsError, match="reports pull of account 'test' was"):
        collector.drain_reports()
    op = HbSmsCollectOperator(task_id="c", kinds="reports", max_lag=timedelta(hours=12))
    with pytest.raises(StalePullsError, match="reports pull of account 'test' was"):
        op.execute(context("c"))


def test_warn_lag_only_warns(hbsms_gateway, hbsms_store, caplog) -> None:
    hbsms_gateway.pull_raw = _refused_as_too_soon  # type: ignore[method-assign]
    _last_pull_two_days_ago(hbsms_store)
    with caplog.at_level(logging.WARNING, logger="airflow_provider_hbsms.collector"):
        Collector(HbSmsHook().client, hbsms_store, warn_lag=timedelta(hours=12)).drain_reports()
        assert "moves unpulled data to history" in caplog.text
        caplog.clear()
        Collector(HbSmsHook().client, hbsms_store, warn_lag=None).drain_reports()
    assert "moves unpulled data to history" not in caplog.text


def _refused_as_too_soon(endpoint: Endpoint) -> bytes | None:
    """A pull that keeps being refused (another poller): the drain records no success."""
    raise RateLimitedError("-19", "too soon", endpoint)


# ---------------------------------------------------------------- no ignored parameters


@pytest.mark.parametrize("name", ["ext_column", "msg_id_column"])
def test_the_same_content_send_has_no_per_row_columns(name: str) -> None:
    with pytest.raises(TypeError, match="Invalid arguments"):
        HbSmsSendOperator(task_id="s", input=["13900000001"], content="x", **{name: "c"})


def test_the_personalized_send_uses_its_per_row_columns(hbsms_gateway, hbsms_store) -> None:
    frame = pd.DataFrame(
        {"mobile": ["13900000001", "13900000002"], "e": ["11", "22"], "id": ["m1", "m2"]}
    )
    HbSmsPersonalizedSendOperator(
        task_id="send", input=frame, template="你好", ext_column="e", msg_id_column="id"
    ).execute(context())
    assert [(m.ext, m.msg_id) for m in hbsms_gateway.messages] == [("11", "m1"), ("22", "m2")]


def test_the_event_trigger_honours_min_replies(hbsms_gateway, hbsms_store) -> None:
    trigger = HbSmsReplyEventTrigger({"min_replies": 2}, poll_interval=0.01)

    async def first() -> Any:
        agen = trigger.run()
        task = asyncio.ensure_future(agen.__anext__())
        await asyncio.sleep(0.2)  # the trigger has taken its position
        hbsms_gateway.reply("13900000001", "好")
        await asyncio.sleep(0.2)
        assert not task.done()  # one reply: not enough yet
        hbsms_gateway.reply("13900000002", "好")
        try:
            return await asyncio.wait_for(task, timeout=10)
        finally:
            await agen.aclose()

    assert asyncio.run(first()).payload["count"] == 2


# ---------------------------------------------------------------- one run for every trigger


@pytest.mark.parametrize("cls", TRIGGERS, ids=lambda c: c.__name__)
def test_every_trigger_runs_the_one_loop(cls: type) -> None:
    assert "run" not in vars(cls)
    assert cls.run is ConditionPolling.run


@pytest.mark.parametrize("cls", [HbSmsSendOperator, HbSmsPersonalizedSendOperator])
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"send_window": ("08-00", "21:00")}, "send_window: '08-00' is not a time like"),
        ({"send_window": "08:00-21:00"}, "is not a (start, end) pair"),
        ({"send_window": ("08:00", "21:00"), "timezone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"timezone": "Europe/Berlin"}, "only apply to a send_window, and none is given"),
        ({"outside_window": "fail"}, "only apply to a send_window, and none is given"),
    ],
    ids=["offset-like time", "not a pair", "unknown zone", "zone alone", "fail alone"],
)
def test_a_send_window_mistake_fails_when_the_dag_is_parsed(
    cls: type[BaseOperator], options: dict[str, Any], message: str
) -> None:
    """Not at send time, and never as an option silently ignored."""
    extra = {"template": "{name}"} if cls is HbSmsPersonalizedSendOperator else {"content": "hi"}
    with pytest.raises(Exception, match=re.escape(message)):
        cls(task_id="send", input=[], **extra, **options)


@pytest.mark.parametrize("cls", [HbSmsSendOperator, HbSmsPersonalizedSendOperator])
def test_a_window_with_its_zone_and_policy_is_taken(cls: type[BaseOperator]) -> None:
    extra = {"template": "{name}"} if cls is HbSmsPersonalizedSendOperator else {"content": "hi"}
    task = cls(
        task_id="send",
        input=[],
        send_window=("22:00", "06:00"),
        timezone="Europe/Berlin",
        outside_window="fail",
        **extra,
    )
    assert task._window().describe() == "22:00-06:00 Europe/Berlin"  # type: ignore[attr-defined]
