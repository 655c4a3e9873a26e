"""Pushes from the simulator: body sizes, GBK XML, timeouts counted as failures."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, ClassVar

import pytest
import requests

from airflow_provider_hbsms.protocol import (
    Credentials,
    Endpoint,
    PersonalizedItem,
    build_personalized_body,
    parse_replies,
    parse_reports,
)
from tests.fixtures.simulator import SIM_CORP_ID, SIM_PASSWORD, SIM_SERVICE, sim_account

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from airflow_provider_hbsms.simulator import GatewaySimulator

CREDS = Credentials(SIM_CORP_ID, SIM_PASSWORD, SIM_SERVICE)


class _Customer(BaseHTTPRequestHandler):
    """Records pushed bodies; sleeps ``stall`` seconds on the first one, then answers ``0``."""

    stall: ClassVar[float] = 0.0
    bodies: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        first = not type(self).bodies
        type(self).bodies.append((self.headers["Content-Type"], body))
        if first and type(self).stall:
            time.sleep(type(self).stall)
        _answer_0(self)

    def log_message(self, *args: object) -> None:
        pass


def _answer_0(handler: BaseHTTPRequestHandler) -> None:
    """Answer a push the way the protocol wants a stored body answered."""
    handler.send_response(200)
    handler.send_header("Content-Length", "1")
    handler.end_headers()
    handler.wfile.write(b"0")


@pytest.fixture
def customer() -> Iterator[str]:
    _Customer.bodies = []
    _Customer.stall = 0.0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Customer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hbsms"
    server.shutdown()
    server.server_close()


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_pushed_bodies_hold_at_most_100_reports_and_10_replies(
    simulator_factory: Callable[..., GatewaySimulator], customer: str
) -> None:
    account = sim_account(report_push_url=customer, reply_push_url=customer)
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
    assert {ctype for ctype, _ in _Customer.bodies} == {"text/xml;charset=GBK"}
    reports = [r for _, b in _Customer.bodies if b"<reports>" in b for r in parse_reports(b)]
    assert sorted(r.msg_id for r in reports) == sorted(f"id{i}" for i in range(150))
    replies = [r for _, b in _Customer.bodies if b"<delivers>" in b for r in parse_replies(b)]
    assert [r.content for r in replies] == [f"回复“{i}”&<>" for i in range(25)]
    assert {r.ext for r in replies} == {"7"}
    assert b'encoding="GBK"' in _Customer.bodies[0][1]


def test_a_push_not_answered_in_time_is_pushed_again(
    simulator_factory: Callable[..., GatewaySimulator], customer: str
) -> None:
    _Customer.stall = 0.5
    sim = simulator_factory(
        accounts=[sim_account(reply_push_url=customer)], push_timeout=0.1, push_interval=0.01
    )
    sim.inject_reply("13800138000", "TD")
    _wait_for(lambda: any(a.outcome == "ok" for a in sim.push_log()))
    first, second = sim.push_log()[:2]
    assert (first.attempt, second.attempt) == (1, 2)
    assert "timeout" in first.outcome.lower()
    assert second.outcome == "ok"
    assert _Customer.bodies[0] == _Customer.bodies[1]  # the same body again


def test_a_stalled_receiver_does_not_hold_up_another_accounts_pushes(
    simulator_factory: Callable[..., GatewaySimulator], customer: str
) -> None:
    """One account's receiver hangs on its first push; the other account's replies still
    arrive at once, and the stalled account's bodies follow in order once it answers."""
    _Customer.stall = 1.5
    other_bodies: list[bytes] = []

    class _Other(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            other_bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            _answer_0(self)

        def log_message(self, *args: object) -> None:
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), _Other)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        stalled = sim_account(reply_push_url=customer)
        prompt = sim_account(
            corp_id="other", reply_push_url=f"http://127.0.0.1:{other.server_address[1]}/r"
        )
        sim = simulator_factory(accounts=[stalled, prompt], push_timeout=5)
        sim.inject_reply("13800138000", "第一", corp_id=SIM_CORP_ID)
        _wait_for(lambda: len(_Customer.bodies) == 1)  # the stalled push is under way
        sim.inject_reply("13800138001", "第二", corp_id=SIM_CORP_ID)
        started = time.monotonic()
        sim.inject_reply("13900139000", "准时", corp_id="other")
        _wait_for(lambda: len(other_bodies) == 1)
        assert time.monotonic() - started < 1.0  # not behind the stalled receiver
        _wait_for(lambda: len(_Customer.bodies) == 2)
        contents = [r.content for _, b in _Customer.bodies for r in parse_replies(b)]
        assert contents == ["第一", "第二"]
    finally:
        other.shutdown()
        other.server_close()
