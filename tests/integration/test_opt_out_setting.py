"""Opt-out keywords from one setting, ``[hbsms] opt_out_keywords``: a reply is classified the
same whichever path stores it (collect operator, sensor, event trigger, push receiver as a
plugin and standalone); a task may override it."""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from airflow_provider_hbsms.get_provider_info import get_provider_info
from airflow_provider_hbsms.operators.collect import HbSmsCollectOperator
from airflow_provider_hbsms.protocol.models import Reply
from airflow_provider_hbsms.protocol.xmlbuild import build_replies_xml
from airflow_provider_hbsms.sensors.reply import HbSmsReplySensor
from airflow_provider_hbsms.store import open_store
from airflow_provider_hbsms.store.keywords import parse_keywords
from airflow_provider_hbsms.store.replies import DEFAULT_OPT_OUT_KEYWORDS
from airflow_provider_hbsms.triggers.reply import HbSmsReplyEventTrigger
from tests.fixtures.operators import context

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from airflow_provider_hbsms.store import Store
    from airflow_provider_hbsms.testing import FakeHbSmsClient


def test_the_setting_is_declared_with_todays_defaults() -> None:
    option = get_provider_info()["config"]["hbsms"]["options"]["opt_out_keywords"]
    assert parse_keywords(option["default"]) == DEFAULT_OPT_OUT_KEYWORDS
    assert option["description"]


OPTED = "13900000001"  # replies "stop": an opt-out under the custom setting only
KEPT = "13900000002"  # replies "TD": an opt-out under the defaults only


def _by_collect(gateway: FakeHbSmsClient, store: Store, monkeypatch: Any) -> None:
    HbSmsCollectOperator(task_id="c", kinds="replies").execute(context("c"))


def _by_reply_sensor(gateway: FakeHbSmsClient, store: Store, monkeypatch: Any) -> None:
    HbSmsReplySensor(task_id="r", min_replies=2, poke_interval=1).poke(context("r"))


def _by_event_trigger(gateway: FakeHbSmsClient, store: Store, monkeypatch: Any) -> None:
    trigger = HbSmsReplyEventTrigger({"min_replies": 2}, poll_interval=0.01)

    async def first() -> Any:
        agen = trigger.run()
        try:
            return await asyncio.wait_for(agen.__anext__(), timeout=10)
        finally:
            await agen.aclose()

    assert asyncio.run(first()).payload["count"] == 2


def _pushed(app: Any, prefix: str = "/hbsms") -> None:
    body = build_replies_xml([Reply(OPTED, " stop "), Reply(KEPT, "TD")])
    assert TestClient(app).post(f"{prefix}/tok/replies", content=body).text == "0"


def _by_plugin(gateway: FakeHbSmsClient, store: Store, monkeypatch: Any) -> None:
    monkeypatch.setenv("AIRFLOW__HBSMS__RECEIVER_TOKEN", "tok")
    import airflow_provider_hbsms.receiver.plugin as plugin

    plugin = importlib.reload(plugin)  # the plugin reads its settings when imported
    (spec,) = plugin.HbSmsReceiverPlugin.fastapi_apps
    root = FastAPI()
    root.mount(spec["url_prefix"], spec["app"])
    _pushed(root)


def _by_standalone_receiver(gateway: FakeHbSmsClient, store: Store, monkeypatch: Any) -> None:
    from airflow_provider_hbsms.receiver import cli

    monkeypatch.setenv("HBSMS_RECEIVER_TOKEN", "tok")
    monkeypatch.setenv("HBSMS_RECEIVER_STORE_URL", str(store.engine.url))
    _pushed(cli.app_from_environment())


@pytest.fixture
def _plugin_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Rebuild the plugin under the real settings once a test has reloaded it under its own."""
    yield
    monkeypatch.undo()
    import airflow_provider_hbsms.receiver.plugin as plugin

    importlib.reload(plugin)


@pytest.mark.usefixtures("_plugin_restored")
@pytest.mark.parametrize(
    "store_replies",
    [_by_collect, _by_reply_sensor, _by_event_trigger, _by_plugin, _by_standalone_receiver],
    ids=lambda f: f.__name__.removeprefix("_by_"),
)
def test_a_reply_is_classified_alike_whichever_path_stores_it(
    store_replies: Callable[..., None], hbsms_gateway, hbsms_store, monkeypatch
) -> None:
    monkeypatch.setenv("AIRFLOW__HBSMS__OPT_OUT_KEYWORDS", "STOP, 停止")
    hbsms_gateway.reply(OPTED, " stop ")
    hbsms_gateway.reply(KEPT, "TD")
    store_replies(hbsms_gateway, hbsms_store, monkeypatch)
    assert sorted(r.mobile for r in hbsms_store.replies.find()) == [OPTED, KEPT]
    assert open_store(url=str(hbsms_store.engine.url)).opt_outs.all() == {OPTED}


def test_a_task_may_override_the_setting(hbsms_gateway, hbsms_store, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__HBSMS__OPT_OUT_KEYWORDS", "STOP")
    hbsms_gateway.reply(OPTED, "stop")
    hbsms_gateway.reply(KEPT, "TD")
    HbSmsCollectOperator(task_id="c", opt_out_keywords=["TD"]).execute(context("c"))
    assert hbsms_store.opt_outs.all() == {KEPT}


def test_without_the_setting_the_defaults_apply(hbsms_gateway, hbsms_store, monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW__HBSMS__OPT_OUT_KEYWORDS", raising=False)
    hbsms_gateway.reply(OPTED, "stop")
    hbsms_gateway.reply(KEPT, "ｔｄ")
    HbSmsCollectOperator(task_id="c").execute(context("c"))
    assert hbsms_store.opt_outs.all() == {KEPT}
