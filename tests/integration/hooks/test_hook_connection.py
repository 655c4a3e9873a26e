"""The ``hbsms`` connection: its form (placeholders, no nulls), its extras checked before
anything is claimed or sent, and a Test button that fails fast on a host it cannot reach."""

from __future__ import annotations

import socket
import time
from urllib.parse import quote

import pytest

from airflow_provider_hbsms import HbSmsError
from airflow_provider_hbsms.hooks.hbsms import HbSmsHook
from tests.fixtures.gateway_doubles import RawGateway, answering, body_of
from tests.fixtures.operators import context, customers, personalized
from tests.fixtures.simulator import SIM_PASSWORD, connection_for


def _use(monkeypatch, simulator, **extra) -> HbSmsHook:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AIRFLOW_CONN_HBSMS_DEFAULT", connection_for(simulator, **extra).as_json())
    return HbSmsHook()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"timeout": -1}, "extra timeout must be more than 0 seconds, got -1"),
        ({"timeout": 0}, "extra timeout must be more than 0 seconds, got 0"),
        ({"timeout": "0"}, "extra timeout must be more than 0 seconds, got '0'"),
        ({"timeout": "soon"}, "extra timeout must be a number of seconds, got 'soon'"),
        ({"timeout": "nan"}, "extra timeout must be more than 0 seconds"),
        ({"connect_timeout": -5}, "extra connect_timeout must be more than 0 seconds"),
        ({"deadline": "0"}, "extra deadline must be more than 0 seconds"),
        ({"pacing": "host"}, "extra pacing must be one of account, endpoint, got 'host'"),
        ({"verify": 3}, "extra verify must be true, false or a CA bundle path"),
    ],
)
def test_bad_extras_are_refused_naming_the_extra(simulator, monkeypatch, extra, message) -> None:
    hook = _use(monkeypatch, simulator, **extra)
    with pytest.raises(HbSmsError, match="connection 'hbsms_default'") as caught:
        hook.client  # noqa: B018 - making the client is what checks the extras
    assert message in str(caught.value)


def test_empty_extras_mean_the_defaults(simulator, monkeypatch) -> None:
    hook = _use(monkeypatch, simulator, timeout="", deadline=None, connect_timeout=None, pacing="")
    client = hook.client
    assert client.timeout == (10.0, 30.0)
    assert client.deadline == 40.0
    assert client.pacing_scope == "account"


@pytest.mark.parametrize("timeout", [-1, 0])
def test_a_bad_timeout_fails_the_send_before_any_batch_is_claimed(
    simulator, monkeypatch, store, timeout
) -> None:
    _use(monkeypatch, simulator, timeout=timeout)
    operator = personalized(customers(30), store, check_balance=False)
    with pytest.raises(HbSmsError, match="extra timeout"):
        operator.execute(context())
    assert store.ledger.batches(operator._key(context())) == {}
    assert simulator.received() == []


# ------------------------------------------------------------------ the Test button


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "no-such-gateway.invalid"])
def test_the_test_button_fails_within_the_connect_timeout(simulator, monkeypatch, host) -> None:
    conn = connection_for(simulator, connect_timeout=2)
    conn.host = host.format(port=_closed_port())
    if ":" in conn.host:
        conn.host, conn.port = conn.host.split(":")[0], int(conn.host.split(":")[1])
    monkeypatch.setenv("AIRFLOW_CONN_HBSMS_DEFAULT", conn.as_json())
    started = time.monotonic()
    ok, message = HbSmsHook().test_connection()
    took = time.monotonic() - started
    assert not ok
    assert "request not delivered" in message
    assert took < 2.5, took  # was 31 s: balance retried transport errors for rate_limit_wait


def test_the_test_button_answers_ok_or_names_the_gateway_code(simulator, monkeypatch) -> None:
    hook = _use(monkeypatch, simulator)
    assert hook.test_connection() == (True, "Connection OK: balance 100000000")
    conn = connection_for(simulator)
    conn.password = "wrong"
    monkeypatch.setenv("AIRFLOW_CONN_HBSMS_DEFAULT", conn.as_json())
    time.sleep(0.25)
    ok, message = HbSmsHook().test_connection()
    assert not ok
    assert "107" in message


def test_the_test_button_never_shows_an_echoed_password(monkeypatch) -> None:
    def echo(request: bytes) -> bytes:
        return b"400 Bad Request: " + body_of(request)

    with RawGateway(answering(echo)) as gateway:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HBSMS_DEFAULT",
            f'{{"conn_type": "hbsms", "host": "127.0.0.1", "port": {gateway.port}, '
            f'"login": "test", "password": "{SIM_PASSWORD}"}}',
        )
        ok, message = HbSmsHook().test_connection()
    assert not ok
    assert "corp_pwd=" not in message or "corp_pwd=***" in message
    encoded = quote(SIM_PASSWORD, safe="")
    for i in range(len(encoded) - 4):
        assert encoded[i : i + 5] not in message


def test_an_echoed_password_never_reaches_the_ledger_or_the_task_log(
    monkeypatch, store, caplog
) -> None:
    """A proxy answers every send with an error page echoing the request: the batch is
    unknown, and neither its error column nor the task's log holds any form of the password."""

    def echo(request: bytes) -> bytes:
        return b"502 upstream said: " + body_of(request)

    with RawGateway(answering(echo)) as gateway:
        monkeypatch.setenv(
            "AIRFLOW_CONN_HBSMS_DEFAULT",
            f'{{"conn_type": "hbsms", "host": "127.0.0.1", "port": {gateway.port}, '
            f'"login": "test", "password": "{SIM_PASSWORD}", '
            f'"extra": {{"corp_service": "svc"}}}}',
        )
        operator = personalized(customers(5), store, check_balance=False)
        with pytest.raises(HbSmsError):
            operator.execute(context())
    batches = store.ledger.batches(operator._key(context()))
    assert batches
    texts = [b.error or "" for b in batches.values()] + [caplog.text]
    assert any("outcome unknown" in text for text in texts)
    encoded = quote(SIM_PASSWORD, safe="")
    for text in texts:
        for i in range(len(encoded) - 4):
            assert encoded[i : i + 5] not in text, text
