"""The simulator's raw replies over real HTTP: every documented code, limits and charging."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
import requests

from airflow_provider_hbsms.protocol import (
    CONTENT_TYPE,
    Credentials,
    Endpoint,
    PersonalizedItem,
    build_balance_body,
    build_personalized_body,
    build_pull_body,
    build_send_body,
    encode_form,
)
from tests.fixtures.simulator import SIM_CORP_ID, SIM_PASSWORD, SIM_SERVICE, sim_account

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_hbsms.simulator import GatewaySimulator

CREDS = Credentials(SIM_CORP_ID, SIM_PASSWORD, SIM_SERVICE)
MOBILE = "13800138000"


def _raw(sim: GatewaySimulator, path: str, body: bytes, method: str = "POST") -> str:
    """The raw reply text (GBK), with the status checked."""
    reply = requests.request(
        method, sim.base_url + path, data=body, headers={"Content-Type": CONTENT_TYPE}, timeout=10
    )
    assert reply.status_code == 200
    return reply.content.decode("gbk")


def _send(sim: GatewaySimulator, creds: Credentials = CREDS, **fields: str) -> str:
    values = {
        "corp_id": creds.corp_id,
        "corp_pwd": creds.corp_pwd,
        "corp_service": creds.corp_service,
        "mobile": MOBILE,
        "msg_content": "hi",
        "corp_msg_id": "m1",
        "ext": "",
    }
    values.update(fields)
    body = encode_form((k, v) for k, v in values.items() if v is not None)
    return _raw(sim, Endpoint.SEND.path, body)


def _items(count: int, text: str = "hi") -> list[PersonalizedItem]:
    return [PersonalizedItem(f"138{i:08d}", f"id{i}", text) for i in range(count)]


def _personalized(
    sim: GatewaySimulator, items: list[PersonalizedItem], total_count: int | None = None
) -> str:
    body = build_personalized_body(CREDS, items, validate=False)
    if total_count is not None:  # a lying total_count
        exact = f"total_count={len(items)}".encode()
        assert exact in body
        body = body.replace(exact, f"total_count={total_count}".encode())
    return _raw(sim, Endpoint.PERSONALIZED_SEND.path, body)


@pytest.mark.parametrize(
    ("allowed", "code"),
    [(("10.0.0.1",), "108"), (("10.0.0.0/8", "192.168.0.0/16"), "108"), (("127.0.0.0/8",), "0#1")],
)
def test_ip_allowlist(
    simulator_factory: Callable[..., GatewaySimulator], allowed: tuple[str, ...], code: str
) -> None:
    sim = simulator_factory(accounts=[sim_account(allowed_ips=allowed)])
    assert _send(sim) == code
    if code == "108":
        assert _raw(sim, Endpoint.BALANCE.path, build_balance_body(CREDS)) == "108"
        assert _raw(sim, Endpoint.PULL_REPORTS.path, build_pull_body(CREDS)) == "108"


def test_unknown_service_and_unknown_path(simulator: GatewaySimulator) -> None:
    assert _send(simulator, corp_service="other") == "109"
    other = Credentials(SIM_CORP_ID, SIM_PASSWORD, "other")
    body = build_personalized_body(other, _items(1))
    assert _raw(simulator, Endpoint.PERSONALIZED_SEND.path, body) == "109"
    assert _raw(simulator, "/sms_send.do", b"corp_id=test") == "9"
    assert _raw(simulator, "/", b"") == "9"


def test_balance_too_low_charges_nothing(
    simulator_factory: Callable[..., GatewaySimulator],
) -> None:
    sim = simulator_factory(accounts=[sim_account(balance=Decimal(2))])
    assert _send(sim, mobile=f"{MOBILE},13800138001,13800138002") == "100"
    assert _personalized(sim, _items(3)) == "100"
    assert sim.received() == []
    assert sim.balance() == "2"
    assert _personalized(sim, _items(2)) == "0#2"
    assert sim.balance() == "0"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"msg_content": ""}, "102"),
        ({"msg_content": "x" * 1001}, "102"),
        ({"mobile": ",".join(f"138{i:08d}" for i in range(201))}, "103"),
        ({"mobile": "12345,abc"}, "103"),
        ({"mobile": ""}, "103"),
        ({"corp_msg_id": None}, "104"),
        ({"corp_msg_id": "x" * 51}, "104"),
        ({"ext": None}, "110"),
        ({"ext": "12a"}, "110"),
        ({"ext": "1" * 16}, "110"),  # channel 10657 (5 digits) + 16 > 20
    ],
)
def test_send_field_codes(simulator: GatewaySimulator, fields: dict[str, str], code: str) -> None:
    assert _send(simulator, **fields) == code
    assert simulator.received() == []


def test_send_limits_that_pass(simulator: GatewaySimulator) -> None:
    many = ",".join(f"138{i:08d}" for i in range(200))
    assert _send(simulator, mobile=many, msg_content="x" * 1000, corp_msg_id="i" * 50) == "0#200"
    assert _send(simulator, ext="1" * 15) == "0#1"  # 5 + 15 = 20 digits


def test_personalized_codes(simulator: GatewaySimulator) -> None:
    assert _personalized(simulator, _items(3), total_count=2) == "115"
    assert _personalized(simulator, _items(3), total_count=4) == "115"
    assert _personalized(simulator, _items(201)) == "116"
    body = build_personalized_body(CREDS, _items(1))
    assert _raw(simulator, Endpoint.PERSONALIZED_SEND.path, body, method="PUT") == "114"
    assert _raw(simulator, Endpoint.PERSONALIZED_SEND.path + "?" + body.decode(), b"", "GET") == (
        "114"
    )
    # 115 and 116 discard the whole request: nothing recorded, nothing charged.
    assert simulator.received() == []
    assert simulator.balance() == "100000000"
    assert _personalized(simulator, _items(200)) == "0#200"


def test_personalized_drops_bad_items_silently(simulator: GatewaySimulator) -> None:
    items = [
        PersonalizedItem(MOBILE, "ok1", "hi"),
        PersonalizedItem("12345", "bad-number", "hi"),
        PersonalizedItem("13800138001", "too-long", "x" * 1001),
        PersonalizedItem("13800138002", "i" * 51, "msg id too long"),
        PersonalizedItem("13800138003", "bad-ext", "hi", "1" * 16),
        PersonalizedItem("13800138004", "ok2", "hi", "42"),
    ]
    assert _personalized(simulator, items) == "0#2"
    assert [(m.msg_id, m.ext) for m in simulator.received()] == [("ok1", ""), ("ok2", "42")]
    assert simulator.balance() == "99999998"


def test_balance_reply_and_pacing(simulator: GatewaySimulator) -> None:
    body = build_balance_body(CREDS)
    assert _raw(simulator, Endpoint.BALANCE.path, body) == "ok#100000000"
    assert _raw(simulator, Endpoint.BALANCE.path, body) == "104"  # within 200 ms
    simulator.update_account(SIM_CORP_ID, balance="12.5")
    # The pacing clock is per account: reset it instead of sleeping.
    simulator.gateway.accounts[SIM_CORP_ID].last_balance_call = -1.0
    assert _raw(simulator, Endpoint.BALANCE.path, body) == "ok#12.5"
    simulator.update_account(SIM_CORP_ID, balance="1e3")
    simulator.gateway.accounts[SIM_CORP_ID].last_balance_call = -1.0
    assert _raw(simulator, Endpoint.BALANCE.path, body) == "ok#1000"


def test_pull_pacing_is_per_kind_and_pull_can_be_disabled(simulator: GatewaySimulator) -> None:
    body = build_pull_body(CREDS)
    assert _raw(simulator, Endpoint.PULL_REPORTS.path, body) == "0"
    assert _raw(simulator, Endpoint.PULL_REPLIES.path, body) == "0"  # the other kind is free
    assert _raw(simulator, Endpoint.PULL_REPORTS.path, body) == "-19"
    assert _raw(simulator, Endpoint.PULL_REPLIES.path, body) == "-19"
    simulator.update_account(SIM_CORP_ID, pull_enabled=False)
    assert _raw(simulator, Endpoint.PULL_REPORTS.path, body) == "-18"


def test_long_message_without_split_gets_one_report(
    simulator_factory: Callable[..., GatewaySimulator],
) -> None:
    from airflow_provider_hbsms.protocol import parse_reports

    sim = simulator_factory(accounts=[sim_account(split_long_messages=False)])
    assert _send(sim, msg_content="字" * 140) == "0#1"
    assert sim.received()[0].segments == 3
    assert sim.balance() == "99999997"
    sim.flush_reports()
    reports = parse_reports(
        requests.post(
            sim.base_url + Endpoint.PULL_REPORTS.path, data=build_pull_body(CREDS)
        ).content
    )
    assert [(r.msg_id, r.sub_seq, r.err) for r in reports] == [("m1", 0, "0")]


def test_body_that_is_not_gbk(simulator: GatewaySimulator) -> None:
    bad = b"corp_id=test&corp_pwd=x&msg_content=%FF%FF"
    assert _raw(simulator, Endpoint.SEND.path, bad) == "102"
    assert _raw(simulator, Endpoint.PERSONALIZED_SEND.path, bad) == "0#0"
    assert simulator.received() == []


def test_get_send_reads_the_query_string(simulator: GatewaySimulator) -> None:
    body = build_send_body(CREDS, [MOBILE], "查询 & 100%", "m1")
    assert _raw(simulator, Endpoint.SEND.path + "?" + body.decode(), b"", "GET") == "0#1"
    assert simulator.received()[0].content == "查询 & 100%"


def test_replies_are_gbk_and_keep_alive_is_used(simulator: GatewaySimulator) -> None:
    with requests.Session() as session:
        for i in range(5):
            body = build_send_body(CREDS, [MOBILE], f"第{i}条", f"m{i}")
            reply = session.post(simulator.base_url + Endpoint.SEND.path, data=body, timeout=10)
            assert reply.headers["Content-Type"] == "text/plain;charset=gbk"
            assert reply.headers["Connection"] == "keep-alive"
            assert reply.text == "0#1"
        closing = session.post(
            simulator.base_url + Endpoint.SEND.path,
            data=body,
            headers={"Connection": "close"},
            timeout=10,
        )
        assert closing.headers["Connection"] == "close"
    assert [m.content for m in simulator.received()][-1] == "第4条"
