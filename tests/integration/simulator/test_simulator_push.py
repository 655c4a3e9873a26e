"""Pushes from the simulator: body sizes, GBK XML, timeouts counted as failures."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import requests

from airflow_provider_hbsms.protocol import (
    Credentials,
    Endpoint,
    PersonalizedItem,
    build_personalized_body,
    parse_replies,
    parse_reports,
)
from tests.fixtures.push_receiver import PushReceiver
from tests.fixtures.simulator import SIM_CORP_ID, SIM_PASSWORD, SIM_SERVICE, sim_account

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_hbsms.simulator import GatewaySimulator

CREDS = Credentials(SIM_CORP_ID, SIM_PASSWORD, SIM_SERVICE)


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_pushed_bodies_hold_at_most_100_reports_and_10_replies(
    simulator_factory: Callable[..., GatewaySimulator], push_receiver: PushReceiver
) -> None:
    account = sim_account(report_push_url=push_receiver.url, reply_push_url=push_receiver.url)
    sim = simulator_factory(accounts=[account], report_delay=3600)
    items = [PersonalizedItem(f"138{i:08d}", f"id{i}", "您好 & 100%") for i in range(150)]
    body = build_personalized_body(CREDS, items)
    assert requests.post(sim.base_url + Endpoint.PERSONALIZED_SEND.path, data=body).text == "0#150"
    for i in range(25):
        sim.inject_reply(f"139{i:08d}", f"回复“{i}”&<>", ext="7")
    sim.flush_reports()
    _wait_for(lambda: len(sim.push_log()) == 5)
    assert all(a.outcome == "ok" and a.attempt == 1 for a in sim.push_log())
    sizes = sorted((a.kind, a.items) for a in sim.push_log())
    assert sizes == [
        ("replies", 5),
        ("replies", 10),
        ("replies", 10),
        ("reports", 50),
        ("reports", 100),
    ]
    assert {ctype for ctype, _ in push_receiver.pushes} == {"text/xml;charset=GBK"}
    reports = [r for _, b in push_receiver.pushes if b"<reports>" in b for r in parse_reports(b)]
    assert sorted(r.msg_id for r in reports) == sorted(f"id{i}" for i in range(150))
    replies = [r for _, b in push_receiver.pushes if b"<delivers>" in b for r in parse_replies(b)]
    assert [r.content for r in replies] == [f"回复“{i}”&<>" for i in range(25)]
    assert {r.ext for r in replies} == {"7"}
    assert b'encoding="GBK"' in push_receiver.pushes[0][1]


def test_a_push_not_answered_in_time_is_pushed_again(
    simulator_factory: Callable[..., GatewaySimulator], push_receiver: PushReceiver
) -> None:
    push_receiver.stall = 0.5
    sim = simulator_factory(
        accounts=[sim_account(reply_push_url=push_receiver.url)],
        push_timeout=0.1,
        push_interval=0.01,
    )
    sim.inject_reply("13800138000", "TD")
    _wait_for(lambda: any(a.outcome == "ok" for a in sim.push_log()))
    first, second = sim.push_log()[:2]
    assert (first.attempt, second.attempt) == (1, 2)
    assert "timeout" in first.outcome.lower()
    assert second.outcome == "ok"
    assert push_receiver.pushes[0] == push_receiver.pushes[1]  # the same body again


def test_a_stalled_receiver_does_not_hold_up_another_accounts_pushes(
    simulator_factory: Callable[..., GatewaySimulator], push_receiver: PushReceiver
) -> None:
    """One account's receiver hangs on its first push; the other account's replies still
    arrive at once, and the stalled account's bodies follow in order once it answers."""
    push_receiver.stall = 1.5
    with PushReceiver(path="/r") as other:
        stalled = sim_account(reply_push_url=push_receiver.url)
        prompt = sim_account(corp_id="other", reply_push_url=other.url)
        sim = simulator_factory(accounts=[stalled, prompt], push_timeout=5)
        sim.inject_reply("13800138000", "第一", corp_id=SIM_CORP_ID)
        _wait_for(lambda: len(push_receiver.pushes) == 1)  # the stalled push is under way
        sim.inject_reply("13800138001", "第二", corp_id=SIM_CORP_ID)
        started = time.monotonic()
        sim.inject_reply("13900139000", "准时", corp_id="other")
        _wait_for(lambda: len(other.pushes) == 1)
        assert time.monotonic() - started < 1.0  # not behind the stalled receiver
        _wait_for(lambda: len(push_receiver.pushes) == 2)
        contents = [r.content for b in push_receiver.bodies for r in parse_replies(b)]
        assert contents == ["第一", "第二"]
