"""Operators and sensors with a mocked hook (``airflow_provider_hbsms.testing``): fast, and no
socket is opened. The simulator and Airflow-run tests beside these cover the wire."""

from __future__ import annotations

import socket
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from airflow_provider_hbsms.operators.collect import HbSmsCollectOperator
from airflow_provider_hbsms.operators.send import HbSmsPersonalizedSendOperator, HbSmsSendOperator
from airflow_provider_hbsms.sensors.delivery import HbSmsDeliveryReportSensor
from airflow_provider_hbsms.sensors.reply import HbSmsReplySensor
from airflow_provider_hbsms.testing import FakeHbSmsClient, mock_hbsms_hook

if TYPE_CHECKING:
    from airflow_provider_hbsms.store import Store

RUN = "manual__2026-12-01T00:00:00+00:00"


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection attempt fails the test: a mocked hook must not reach the network."""

    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"a socket was opened to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


# --8<-- [start:helpers]
def context(task_id: str = "send") -> dict[str, Any]:
    return {"ti": SimpleNamespace(dag_id="d", task_id=task_id, run_id=RUN, map_index=-1)}


def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"mobile": [f"139{i:08d}" for i in range(n)], "name": [f"客户{i}" for i in range(n)]}
    )


# --8<-- [end:helpers]


# --8<-- [start:mocked_send]
def test_personalized_send_with_a_mocked_hook(hbsms_gateway, hbsms_store: Store) -> None:
    send = HbSmsPersonalizedSendOperator(
        task_id="send", input=frame(250), template="{name}，您好", ext="88"
    )
    result = send.execute(context())
    assert (result["messages"], result["accepted"], result["batches"]) == (250, 250, 2)
    assert [path for path, _ in hbsms_gateway.requests] == ["/hSmsSend.do"] * 2
    first = hbsms_gateway.messages[0]
    assert (first.mobile, first.ext, first.content) == ("13900000000", "88", "客户0，您好")
    # A retry sends nothing again: the ledger knows both batches were accepted.
    again = send.execute(context())
    assert again["skipped_already_sent"] == 250
    assert len(hbsms_gateway.messages) == 250


# --8<-- [end:mocked_send]


def test_bulk_send_checks_the_balance_first(hbsms_store: Store) -> None:
    with mock_hbsms_hook(FakeHbSmsClient(balance=3)) as gateway:
        send = HbSmsSendOperator(task_id="send", input=frame(10), content="通知")
        with pytest.raises(Exception, match="does not cover the estimated cost"):
            send.execute(context())
    assert gateway.messages == []


# --8<-- [start:mocked_sensor]
def test_delivery_sensor_and_collect_with_a_mocked_hook(hbsms_gateway, hbsms_store) -> None:
    result = HbSmsSendOperator(task_id="send", input=frame(5), content="通知", ext="7").execute(
        context()
    )
    sensor = HbSmsDeliveryReportSensor(task_id="wait", campaign_key=result, poke_interval=1)
    assert not sensor.poke(context("wait")).is_done  # nothing reported yet
    assert hbsms_gateway.deliver(failed={"13900000003": "DB:0141"}) == 5
    done = sensor.poke(context("wait"))
    assert done.is_done
    assert (done.xcom_value["delivered"], done.xcom_value["failed"]) == (4, 1)
    assert done.xcom_value["failed_by_reason"] == {"DB:0141 failed": 1}

    hbsms_gateway.reply("13900000001", "TD", "7")
    collected = HbSmsCollectOperator(task_id="collect", kinds=["replies"]).execute(context("c"))
    assert collected["replies"]["new"] == 1
    assert hbsms_store.opt_outs.all() == {"13900000001"}
    (reply,) = hbsms_store.replies.find()
    assert reply.campaign_key == result["campaign_key"]


# --8<-- [end:mocked_sensor]


def test_reply_sensor_with_a_mocked_hook(hbsms_gateway, hbsms_store) -> None:
    sensor = HbSmsReplySensor(task_id="replies", pattern="^(是|Y)", poke_interval=1)
    assert not sensor.poke(context("replies")).is_done
    hbsms_gateway.reply("13900000009", "是的")
    found = sensor.poke(context("replies"))
    assert found.is_done
    assert [r["mobile"] for r in found.xcom_value] == ["13900000009"]
