"""The hook's own rules, without a gateway: the base URL from the connection's fields, the
``verify`` extra, extras under the ``extra__hbsms__`` prefix older forms wrote, and the Test
button's answer."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from airflow.sdk import Connection

from airflow_provider_hbsms import AuthenticationError, HbSmsError
from airflow_provider_hbsms.client import HbSmsClient
from airflow_provider_hbsms.hooks.hbsms import DEFAULT_PORT, HbSmsHook
from airflow_provider_hbsms.protocol import Endpoint

PASSWORD = "pa55&word=%+"


def _hook(
    monkeypatch: pytest.MonkeyPatch,
    host: str | None = "gw.example.com",
    schema: str | None = None,
    port: int | None = None,
    login: str | None = "corp",
    password: str | None = PASSWORD,
    **extra: Any,
) -> HbSmsHook:
    """A hook on connection ``hbsms_unit`` (through its environment variable)."""
    connection = Connection(
        conn_id="hbsms_unit",
        conn_type="hbsms",
        host=host,
        schema=schema,
        port=port,
        login=login,
        password=password,
        extra=json.dumps(extra),
    )
    monkeypatch.setenv("AIRFLOW_CONN_HBSMS_UNIT", connection.as_json())
    return HbSmsHook("hbsms_unit")


# ------------------------------------------------------------------ base URL


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, f"http://gw.example.com:{DEFAULT_PORT}"),
        ({"port": 9000}, "http://gw.example.com:9000"),
        ({"schema": "https", "port": 8443}, "https://gw.example.com:8443"),
        ({"schema": " HTTPS "}, f"https://gw.example.com:{DEFAULT_PORT}"),
        ({"host": "  gw.example.com  "}, f"http://gw.example.com:{DEFAULT_PORT}"),
        ({"host": "10.1.2.3", "port": 80}, "http://10.1.2.3:80"),
    ],
    ids=["defaults", "port", "https", "schema-case-and-spaces", "host-spaces", "address"],
)
def test_base_url_from_schema_host_and_port(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], expected: str
) -> None:
    assert _hook(monkeypatch, **fields).base_url == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("https://sms.example.com", "https://sms.example.com"),
        ("https://sms.example.com/", "https://sms.example.com"),
        ("http://sms.example.com:8081", "http://sms.example.com:8081"),
        ("https://proxy.example.com/hbsms/", "https://proxy.example.com/hbsms"),
        ("https://proxy.example.com/a/b//", "https://proxy.example.com/a/b"),
    ],
)
def test_a_full_url_as_host_is_the_base_url_with_its_path(
    monkeypatch: pytest.MonkeyPatch, host: str, expected: str
) -> None:
    # The schema and port fields do not apply to a full URL: its own scheme and port win.
    hook = _hook(monkeypatch, host=host, schema="http", port=1234)
    assert hook.base_url == expected


def test_the_base_url_reaches_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(monkeypatch, host="https://proxy.example.com/hbsms/")
    assert hook.client.base_url == "https://proxy.example.com/hbsms"


@pytest.mark.parametrize("host", [None, "", "   "])
def test_a_connection_without_host_is_refused(monkeypatch: pytest.MonkeyPatch, host: Any) -> None:
    with pytest.raises(HbSmsError, match="connection 'hbsms_unit' has no host"):
        _hook(monkeypatch, host=host).base_url  # noqa: B018 - reading it is the check


@pytest.mark.parametrize("schema", ["ftp", "tcp", "http+unix"])
def test_a_schema_other_than_http_or_https_is_refused(
    monkeypatch: pytest.MonkeyPatch, schema: str
) -> None:
    with pytest.raises(
        HbSmsError, match=re.escape(f"schema must be http or https, got '{schema}'")
    ):
        _hook(monkeypatch, schema=schema).base_url  # noqa: B018 - reading it is the check


# ------------------------------------------------------------------ verify


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, True),
        ({"verify": None}, True),
        ({"verify": ""}, True),
        ({"verify": True}, True),
        ({"verify": False}, False),
        *(({"verify": word}, True) for word in ("true", "1", "yes", "on", " TRUE ", "On")),
        *(({"verify": word}, False) for word in ("false", "0", "no", "off", " False ", "NO")),
        ({"verify": "/etc/ssl/certs/gateway-ca.pem"}, "/etc/ssl/certs/gateway-ca.pem"),
        ({"verify": "ca bundle.pem"}, "ca bundle.pem"),
    ],
)
def test_verify_is_a_flag_or_a_ca_bundle_path(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], expected: bool | str
) -> None:
    verify = _hook(monkeypatch, **extra).client_settings()["verify"]
    assert verify == expected
    assert type(verify) is type(expected)  # 1/0 are not passed on as ints


@pytest.mark.parametrize("value", [3, 0, 1.5, ["ca.pem"], {"path": "ca.pem"}])
def test_verify_of_another_type_is_refused(monkeypatch: pytest.MonkeyPatch, value: Any) -> None:
    with pytest.raises(HbSmsError, match="extra verify must be true, false or a CA bundle path"):
        _hook(monkeypatch, verify=value).client_settings()


# ------------------------------------------------------------------ extra__ prefix


def test_prefixed_extras_read_as_plain_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(
        monkeypatch,
        extra__hbsms__corp_service="svc",
        extra__hbsms__channel_number="10657",
        extra__hbsms__user_id="puller",
        extra__hbsms__signature="【示例】",
        extra__hbsms__timeout="12",
        extra__hbsms__verify="false",
        extra__hbsms__pacing="endpoint",
    )
    assert hook.credentials.corp_service == "svc"
    assert hook.credentials.user_id == "puller"
    assert (hook.channel_number, hook.signature) == ("10657", "【示例】")
    settings = hook.client_settings()
    assert settings["read_timeout"] == 12.0
    assert settings["verify"] is False
    assert settings["pacing_scope"] == "endpoint"


def test_plain_and_prefixed_extras_mix(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(monkeypatch, corp_service="svc", extra__hbsms__channel_number="106")
    assert (hook.credentials.corp_service, hook.channel_number) == ("svc", "106")


def test_a_prefixed_extra_is_checked_under_its_plain_name(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(monkeypatch, extra__hbsms__timeout=-1)
    with pytest.raises(HbSmsError, match="extra timeout must be more than 0 seconds, got -1"):
        hook.client_settings()


def test_only_this_connection_types_prefix_is_taken_off(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(monkeypatch, extra__http__corp_service="svc", extra__hbsms_channel_number="1")
    assert hook.credentials.corp_service == ""
    assert hook.channel_number == ""


def test_missing_extras_mean_empty_values_and_user_id_defaults_to_corp_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook = _hook(monkeypatch)
    assert (hook.channel_number, hook.signature) == ("", "")
    assert hook.credentials.corp_service == ""
    assert hook.credentials.user_id == "corp"


@pytest.mark.parametrize(("login", "password"), [(None, PASSWORD), ("corp", None), ("", "")])
def test_credentials_need_login_and_password(
    monkeypatch: pytest.MonkeyPatch, login: str | None, password: str | None
) -> None:
    with pytest.raises(HbSmsError, match="needs login \\(corp_id\\) and password") as caught:
        _hook(monkeypatch, login=login, password=password).credentials  # noqa: B018
    assert PASSWORD not in str(caught.value)


# ------------------------------------------------------------------ test_connection


def test_test_connection_reports_the_balance(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(monkeypatch)
    with mock.patch.object(
        HbSmsClient, "get_balance", autospec=True, return_value=Decimal("123.45")
    ) as balance:
        assert hook.test_connection() == (True, "Connection OK: balance 123.45")
    # One query, not retried on transport errors: an unreachable host fails at once.
    balance.assert_called_once_with(hook.client, retry_transport=False)


def test_test_connection_reports_a_gateway_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _hook(monkeypatch)
    refusal = AuthenticationError("107", "wrong password", Endpoint.BALANCE)
    with mock.patch.object(HbSmsClient, "get_balance", autospec=True, side_effect=refusal):
        ok, message = hook.test_connection()
    assert (ok, message) == (False, str(refusal))
    assert "107" in message
    assert PASSWORD not in message


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"host": ""}, "has no host"),
        ({"schema": "ftp"}, "schema must be http or https"),
        ({"password": None}, "needs login (corp_id) and password"),
        ({"timeout": "soon"}, "extra timeout must be a number of seconds, got 'soon'"),
        ({"verify": 3}, "extra verify must be true, false or a CA bundle path"),
        ({"pacing": "host"}, "extra pacing must be one of account, endpoint"),
    ],
)
def test_test_connection_reports_a_bad_connection_without_a_request(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], expected: str
) -> None:
    hook = _hook(monkeypatch, **fields)
    with mock.patch.object(HbSmsClient, "get_balance", autospec=True) as balance:
        ok, message = hook.test_connection()
    assert not ok
    assert expected in message
    assert "connection 'hbsms_unit'" in message
    balance.assert_not_called()


def test_errors_other_than_the_gateways_are_not_swallowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook = _hook(monkeypatch)
    with (
        mock.patch.object(HbSmsClient, "get_balance", autospec=True, side_effect=KeyError("x")),
        pytest.raises(KeyError),
    ):
        hook.test_connection()
