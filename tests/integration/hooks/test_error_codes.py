"""Every documented error code of every endpoint, provoked from the simulator over real HTTP,
and the exception the hook raises for it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest
import requests

from airflow_provider_hbsms import (
    AccountClosedError,
    AuthenticationError,
    EndpointNotFoundError,
    GatewayError,
    InsufficientBalanceError,
    InvalidContentError,
    InvalidExtError,
    InvalidMobileError,
    InvalidMsgIdError,
    IpNotAllowedError,
    MethodNotAllowedError,
    PullNotEnabledError,
    RateLimitedError,
    ServiceUnavailableError,
    TooManyItemsError,
    TotalCountMismatchError,
)
from airflow_provider_hbsms.hooks.hbsms import HbSmsHook
from airflow_provider_hbsms.protocol import (
    ERROR_CODES,
    Endpoint,
    PersonalizedItem,
    build_balance_body,
    build_personalized_body,
    build_pull_body,
    parse_send_reply,
)
from tests.fixtures.simulator import SIM_CORP_ID, connection_for

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.sdk import Connection

    from airflow_provider_hbsms.simulator import GatewaySimulator

ITEM = PersonalizedItem("13800138000", "id1", "你好")
PROVOKED: set[tuple[Endpoint, str]] = set()


def _hook(
    simulator: GatewaySimulator, monkeypatch: pytest.MonkeyPatch, validate: bool = False, **conn
) -> HbSmsHook:
    """A hook on the simulator whose client skips local validation, so bad input reaches it."""
    connection: Connection = connection_for(simulator, conn_id="hbsms_codes")
    for key, value in conn.items():
        setattr(connection, key, value)
    monkeypatch.setenv("AIRFLOW_CONN_HBSMS_CODES", connection.as_json())
    hook = HbSmsHook("hbsms_codes")
    hook.client.validate = validate
    hook.client.rate_limit_wait = 0
    return hook


def _expect(
    call: Callable[[], object], error: type[GatewayError], endpoint: Endpoint, code: str
) -> GatewayError:
    with pytest.raises(error) as caught:
        call()
    exc = caught.value
    assert (exc.code, exc.endpoint) == (code, endpoint)
    assert exc.meaning == ERROR_CODES[endpoint][code].meaning
    assert exc.retryable is (error is RateLimitedError)
    assert code in str(exc)
    assert endpoint.path in str(exc)
    PROVOKED.add((endpoint, code))
    return exc


SEND = Endpoint.SEND
PERS = Endpoint.PERSONALIZED_SEND
BAL = Endpoint.BALANCE
REPORTS = Endpoint.PULL_REPORTS
REPLIES = Endpoint.PULL_REPLIES


def _all_calls(hook: HbSmsHook) -> dict[Endpoint, Callable[[], object]]:
    return {
        SEND: lambda: hook.send(["13800138000"], "hi", "m1"),
        PERS: lambda: hook.send_personalized([ITEM]),
        BAL: hook.get_balance,
        REPORTS: hook.fetch_reports,
        REPLIES: hook.fetch_replies,
    }


@pytest.mark.parametrize(
    ("change", "codes"),
    [
        (
            {"login": "nobody"},
            {SEND: "106", PERS: "106", BAL: "106", REPORTS: "-16", REPLIES: "-16"},
        ),
        (
            {"password": "wrong-password"},
            {SEND: "107", PERS: "107", BAL: "107", REPORTS: "-17", REPLIES: "-17"},
        ),
    ],
    ids=["unknown-user", "wrong-password"],
)
def test_authentication_codes(simulator, monkeypatch, change, codes) -> None:
    hook = _hook(simulator, monkeypatch, **change)
    for endpoint, call in _all_calls(hook).items():
        _expect(call, AuthenticationError, endpoint, codes[endpoint])
    assert simulator.received() == []  # refused before anything is taken


def test_closed_account(simulator, monkeypatch) -> None:
    simulator.update_account(SIM_CORP_ID, closed=True)
    hook = _hook(simulator, monkeypatch)
    codes = {SEND: "101", PERS: "101", BAL: "101", REPORTS: "-11", REPLIES: "-11"}
    for endpoint, call in _all_calls(hook).items():
        _expect(call, AccountClosedError, endpoint, codes[endpoint])
    assert simulator.received() == []


def test_ip_not_allowed(simulator, monkeypatch) -> None:
    simulator.update_account(SIM_CORP_ID, allowed_ips=("192.0.2.0/24",))
    hook = _hook(simulator, monkeypatch)
    for endpoint, call in _all_calls(hook).items():
        _expect(call, IpNotAllowedError, endpoint, "108")


def test_no_such_address(simulator, monkeypatch) -> None:
    hook = _hook(simulator, monkeypatch, host=f"{simulator.base_url}/wrong-prefix")
    for endpoint, call in _all_calls(hook).items():
        _expect(call, EndpointNotFoundError, endpoint, "9")


def test_balance_too_low(simulator, monkeypatch) -> None:
    simulator.update_account(SIM_CORP_ID, balance=0)
    hook = _hook(simulator, monkeypatch)
    _expect(lambda: hook.send(["13800138000"], "hi", "m1"), InsufficientBalanceError, SEND, "100")
    _expect(lambda: hook.send_personalized([ITEM]), InsufficientBalanceError, PERS, "100")
    assert simulator.received() == []


def test_unknown_service(simulator, monkeypatch) -> None:
    hook = _hook(simulator, monkeypatch, extra='{"corp_service": "closed-service"}')
    _expect(lambda: hook.send(["13800138000"], "hi", "m1"), ServiceUnavailableError, SEND, "109")
    _expect(lambda: hook.send_personalized([ITEM]), ServiceUnavailableError, PERS, "109")


def test_send_field_codes(simulator, monkeypatch) -> None:
    hook = _hook(simulator, monkeypatch)
    _expect(lambda: hook.send(["13800138000"], "", "m1"), InvalidContentError, SEND, "102")
    _expect(lambda: hook.send(["13800138000"], "x" * 1001, "m1"), InvalidContentError, SEND, "102")
    _expect(lambda: hook.send(["12345"], "hi", "m1"), InvalidMobileError, SEND, "103")
    too_many = [f"138{i:08d}" for i in range(201)]
    _expect(lambda: hook.send(too_many, "hi", "m1"), InvalidMobileError, SEND, "103")
    _expect(lambda: hook.send(["13800138000"], "hi", "m" * 51), InvalidMsgIdError, SEND, "104")
    _expect(lambda: hook.send(["13800138000"], "hi", "m1", "12a"), InvalidExtError, SEND, "110")
    _expect(lambda: hook.send(["13800138000"], "hi", "m1", "1" * 16), InvalidExtError, SEND, "110")
    assert simulator.received() == []


def test_personalized_request_codes(simulator, monkeypatch) -> None:
    hook = _hook(simulator, monkeypatch)
    # A separator inside content makes the gateway find more items than total_count.
    sneaky = PersonalizedItem("13800138000", "id1", "a&group&b")
    _expect(lambda: hook.send_personalized([sneaky]), TotalCountMismatchError, PERS, "115")
    too_many = [PersonalizedItem(f"138{i:08d}", f"id{i}", "hi") for i in range(201)]
    _expect(lambda: hook.send_personalized(too_many), TooManyItemsError, PERS, "116")
    assert simulator.received() == []


def test_personalized_get_is_refused(simulator, hbsms_conn) -> None:
    """The hook always POSTs; a GET (what some clients do) draws 114."""
    hook = HbSmsHook()
    body = build_personalized_body(hook.credentials, [ITEM])
    reply = requests.get(f"{simulator.base_url}{PERS.path}?{body.decode()}", timeout=10)
    _expect(lambda: parse_send_reply(reply.content, PERS), MethodNotAllowedError, PERS, "114")
    assert simulator.received() == []


def test_paced_calls_too_soon(simulator, monkeypatch) -> None:
    """Another process's call just before ours: balance 104 and pull -19, retryable."""
    hook = _hook(simulator, monkeypatch)
    cases = [
        (BAL, build_balance_body, hook.get_balance, "104"),
        (REPORTS, build_pull_body, hook.fetch_reports, "-19"),
        (REPLIES, build_pull_body, hook.fetch_replies, "-19"),
    ]
    for endpoint, build, call, code in cases:
        # Our previous call (balance and pulls take one turn per account) ended long enough
        # ago for ours to go at once; another client (no shared pacing) calls first, so ours
        # lands within 200 ms of it.
        time.sleep(0.25)
        requests.post(simulator.base_url + endpoint.path, data=build(hook.credentials), timeout=10)
        _expect(call, RateLimitedError, endpoint, code)


def test_pull_not_enabled(simulator, monkeypatch) -> None:
    simulator.update_account(SIM_CORP_ID, pull_enabled=False)
    hook = _hook(simulator, monkeypatch)
    _expect(hook.fetch_reports, PullNotEnabledError, REPORTS, "-18")
    _expect(hook.fetch_replies, PullNotEnabledError, REPLIES, "-18")


def test_every_documented_code_was_provoked() -> None:
    """Runs last in this module: the tests above covered the whole code table."""
    if not PROVOKED:
        pytest.skip("meaningful only after the rest of this module ran")
    documented = {(endpoint, code) for endpoint, codes in ERROR_CODES.items() for code in codes}
    assert documented - PROVOKED == set()
