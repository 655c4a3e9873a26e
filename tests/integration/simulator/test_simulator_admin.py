"""The simulator's admin API over HTTP, fault plans, report timing and failure draws."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_hbsms.protocol import (
    Credentials,
    Endpoint,
    build_pull_body,
    build_send_body,
    parse_replies,
    parse_reports,
)
from tests.fixtures.simulator import SIM_CORP_ID, SIM_PASSWORD, SIM_SERVICE

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_hbsms.protocol import Report
    from airflow_provider_hbsms.simulator import GatewaySimulator

CREDS = Credentials(SIM_CORP_ID, SIM_PASSWORD, SIM_SERVICE)
NUMBERS = [f"138{i:08d}" for i in range(40)]


def _admin(sim: GatewaySimulator, name: str, payload: dict[str, Any] | None = None) -> Any:
    url = f"{sim.base_url}/_admin/{name}"
    reply = requests.get(url, timeout=10) if payload is None else requests.post(url, json=payload)
    assert reply.status_code == 200, reply.text
    return reply.json()


def _send(sim: GatewaySimulator, numbers: list[str] = NUMBERS[:1], text: str = "hi") -> str:
    body = build_send_body(CREDS, numbers, text, "m1")
    return requests.post(sim.base_url + Endpoint.SEND.path, data=body, timeout=10).text


def _pull(sim: GatewaySimulator, endpoint: Endpoint = Endpoint.PULL_REPORTS) -> bytes:
    sim.gateway.accounts[SIM_CORP_ID].last_pull.clear()  # skip the 200 ms pacing, no sleeping
    return requests.post(sim.base_url + endpoint.path, data=build_pull_body(CREDS)).content


def _all_reports(sim: GatewaySimulator) -> list[Report]:
    reports: list[Report] = []
    while (body := _pull(sim)) != b"0":
        reports.extend(parse_reports(body))
    return reports


def test_messages_replies_stats_and_reset(simulator: GatewaySimulator) -> None:
    assert _send(simulator, NUMBERS[:2], "你好 & 100%") == "0#2"
    messages = _admin(simulator, "messages")
    assert [(m["mobile"], m["content"], m["segments"]) for m in messages] == [
        (NUMBERS[0], "你好 & 100%", 1),
        (NUMBERS[1], "你好 & 100%", 1),
    ]
    assert messages[0]["endpoint"] == Endpoint.SEND.path
    _admin(simulator, "replies", {"mobile": NUMBERS[0], "content": "退订", "ext": "12"})
    stats = _admin(simulator, "stats")
    assert stats["messages"] == 2
    assert stats["requests"] == {Endpoint.SEND.path: 1}
    assert stats["accounts"][SIM_CORP_ID]["waiting_replies"] == 1
    (reply,) = parse_replies(_pull(simulator, Endpoint.PULL_REPLIES))
    assert (reply.mobile, reply.content, reply.ext, reply.corp_id) == (
        NUMBERS[0],
        "退订",
        "12",
        SIM_CORP_ID,
    )
    _admin(simulator, "reset", {})
    assert _admin(simulator, "messages") == []
    assert _admin(simulator, "stats")["accounts"][SIM_CORP_ID]["pending_reports"] == 0


def test_account_changes_through_the_admin_api(simulator: GatewaySimulator) -> None:
    _admin(simulator, f"accounts/{SIM_CORP_ID}", {"balance": "0"})
    assert _send(simulator) == "100"
    _admin(simulator, f"accounts/{SIM_CORP_ID}", {"balance": "5", "closed": True})
    assert _send(simulator) == "101"
    _admin(simulator, f"accounts/{SIM_CORP_ID}", {"closed": False, "pull_enabled": False})
    assert _send(simulator) == "0#1"
    assert _pull(simulator) == b"-18"
    assert _admin(simulator, "stats")["accounts"][SIM_CORP_ID]["balance"] == "4"


def test_admin_errors(simulator: GatewaySimulator) -> None:
    assert requests.get(simulator.base_url + "/_admin/nothing").status_code == 404
    bad = requests.post(simulator.base_url + "/_admin/faults", json={"kind": "explode"})
    assert bad.status_code == 400
    assert "unknown fault kind" in bad.json()["error"]
    assert requests.post(simulator.base_url + "/_admin/replies", data=b"{").status_code == 400


def test_fault_after_and_count_over_the_admin_api(simulator: GatewaySimulator) -> None:
    _admin(
        simulator,
        "faults",
        {"kind": "http_500", "endpoint": "/sms_send2.do", "after": 2, "count": 2},
    )
    codes = [
        requests.post(simulator.base_url + Endpoint.SEND.path, data=_body()).status_code
        for _ in range(6)
    ]
    assert codes == [200, 200, 500, 500, 200, 200]
    assert len(simulator.received()) == 4  # http_500 does not process
    (fault,) = _admin(simulator, "faults")
    assert fault["struck"] == 2


def test_fault_without_count_hits_everything_and_spares_other_endpoints(
    simulator: GatewaySimulator,
) -> None:
    simulator.inject_fault("malformed_reply", endpoint=Endpoint.BALANCE.path, count=None)
    for _ in range(3):
        assert _send(simulator) == "0#1"
    simulator.gateway.accounts[SIM_CORP_ID].last_balance_call = -1.0
    reply = requests.post(simulator.base_url + Endpoint.BALANCE.path, data=b"corp_id=test")
    assert not reply.text.startswith(("ok#", "10"))
    simulator.clear_faults()
    assert _send(simulator) == "0#1"


def test_latency_fault_and_global_latency(simulator: GatewaySimulator) -> None:
    simulator.inject_fault("latency", seconds=0.3)
    _admin(simulator, "faults", {"kind": "latency", "after": 1, "params": {"seconds": 0.3}})
    for _ in range(2):  # the first is hit by the Python-injected fault, the second by the other
        with pytest.raises(requests.Timeout):
            requests.post(simulator.base_url + Endpoint.SEND.path, data=_body(), timeout=0.1)
    assert [f["params"] for f in _admin(simulator, "faults")] == [{"seconds": 0.3}] * 2
    assert _admin(simulator, "latency", {"ms": 300}) == {"latency_ms": 300.0}
    with pytest.raises(requests.Timeout):
        requests.post(simulator.base_url + Endpoint.SEND.path, data=_body(), timeout=0.1)
    _admin(simulator, "latency", {"ms": 0})
    assert _send(simulator) == "0#1"
    # The delayed requests were processed after their clients gave up.
    deadline = time.monotonic() + 5
    while len(simulator.received()) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(simulator.received()) == 4


def test_reports_wait_for_their_delay_or_a_flush(
    simulator_factory: Callable[..., GatewaySimulator],
) -> None:
    sim = simulator_factory(report_delay=3600)
    assert _send(sim, NUMBERS[:3]) == "0#3"
    assert _pull(sim) == b"0"
    assert _admin(sim, "stats")["accounts"][SIM_CORP_ID]["pending_reports"] == 3
    _admin(sim, "flush_reports", {})
    reports = _all_reports(sim)
    assert sorted(r.mobile for r in reports) == NUMBERS[:3]
    assert {(r.msg_id, r.err, r.corp_id) for r in reports} == {("m1", "0", SIM_CORP_ID)}
    assert _pull(sim) == b"0"  # handed over once


def test_failure_ratio_is_seeded(simulator_factory: Callable[..., GatewaySimulator]) -> None:
    def failed_numbers(seed: int) -> list[tuple[str, str, str]]:
        sim = simulator_factory(failure_ratio=0.5, seed=seed)
        assert _send(sim, NUMBERS) == f"0#{len(NUMBERS)}"
        sim.flush_reports()
        reports = _all_reports(sim)
        assert len(reports) == len(NUMBERS)
        return sorted((r.mobile, r.err, r.fail_desc) for r in reports if r.err != "0")

    first, again, other = failed_numbers(7), failed_numbers(7), failed_numbers(8)
    assert first == again
    assert first != other
    assert 5 < len(first) < 35
    assert all(err in {"2", "DB:0140", "MK:0001"} and desc for _, err, desc in first)


def test_backlog_of_ready_reports(simulator: GatewaySimulator) -> None:
    assert _admin(simulator, "backlog", {"count": 150}) == {"queued": 150}
    sizes = []
    while (body := _pull(simulator)) != b"0":
        sizes.append(len(parse_reports(body)))
    assert sizes == [100, 50]


def _body() -> bytes:
    return build_send_body(CREDS, NUMBERS[:1], "hi", "m1")
