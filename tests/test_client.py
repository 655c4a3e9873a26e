"""HbSmsClient: what is retried, what is never retried, and where the password never goes."""

from __future__ import annotations

import logging
import socket
from decimal import Decimal
from unittest import mock

import pytest
import requests

from airflow_provider_hbsms.client import HbSmsClient
from airflow_provider_hbsms.hooks.hbsms import HbSmsHook
from airflow_provider_hbsms.protocol import (
    Credentials,
    Endpoint,
    PersonalizedItem,
    RateLimitedError,
    SendOutcomeUnknownError,
    TransportError,
    UnexpectedReplyError,
)
from tests.fixtures.simulator import SIM_PASSWORD

SECRET = "Pa55&w0rd=%s3cret"
CREDS = Credentials("corp", SECRET, "svc")
ITEMS = [PersonalizedItem("13800138000", "id1", "你好")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _response(status: int, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    return response


@pytest.fixture
def client(tmp_path) -> HbSmsClient:
    return HbSmsClient("http://127.0.0.1:9", CREDS, pacing_dir=tmp_path, rate_limit_wait=1)


def _patch_post(client: HbSmsClient, **kwargs) -> mock.MagicMock:
    """Replace the transport under the session (the adapter), keeping the client's own logic."""
    patcher = mock.patch.object(client._session.get_adapter(client.base_url), "send", **kwargs)
    return patcher.start()


@pytest.fixture(autouse=True)
def _stop_patches():
    yield
    mock.patch.stopall()


def test_refused_connection_is_a_transport_error_nothing_sent(tmp_path) -> None:
    client = HbSmsClient(f"http://127.0.0.1:{_free_port()}", CREDS, pacing_dir=tmp_path)
    with pytest.raises(TransportError) as caught:
        client.send_personalized(ITEMS)
    assert caught.value.endpoint is Endpoint.PERSONALIZED_SEND
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    "failure",
    [
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectionError("Connection aborted: RemoteDisconnected"),
        requests.exceptions.ChunkedEncodingError("broken"),
    ],
)
def test_failures_after_sending_are_unknown_and_never_retried(client, failure) -> None:
    post = _patch_post(client, side_effect=failure)
    with pytest.raises(SendOutcomeUnknownError) as caught:
        client.send_personalized(ITEMS)
    assert post.call_count == 1
    assert caught.value.submitted == 1


@pytest.mark.parametrize(
    ("status", "body"), [(500, b"oops"), (502, b""), (200, b"<html>proxy</html>"), (200, b"")]
)
def test_error_status_or_unreadable_reply_to_a_send_is_unknown(client, status, body) -> None:
    post = _patch_post(client, return_value=_response(status, body))
    with pytest.raises(SendOutcomeUnknownError):
        client.send(["13800138000"], "hi", "m1")
    assert post.call_count == 1


def test_balance_is_retried_on_rate_limit_and_transport_errors(client) -> None:
    post = _patch_post(
        client,
        side_effect=[
            _response(200, b"104"),
            requests.exceptions.ReadTimeout("slow"),
            _response(200, b"ok#12.5"),
        ],
    )
    assert client.get_balance() == Decimal("12.5")
    assert post.call_count == 3


def test_pull_rate_limit_waits_then_gives_up(client) -> None:
    post = _patch_post(client, return_value=_response(200, b"-19"))
    with pytest.raises(RateLimitedError) as caught:
        client.fetch_reports()
    assert caught.value.retryable
    assert post.call_count >= 2


def test_a_lost_pull_reply_is_not_retried(client) -> None:
    post = _patch_post(client, side_effect=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(TransportError, match="may have been processed"):
        client.fetch_replies()
    assert post.call_count == 1


def test_unreadable_pull_keeps_the_raw_body(client) -> None:
    body = b"<reports><report><mobile>1</mobile>"
    _patch_post(client, return_value=_response(200, body))
    with pytest.raises(UnexpectedReplyError) as caught:
        client.fetch_reports()
    assert caught.value.body == body


def test_connections_are_recycled_after_their_age(client) -> None:
    first = client._session
    client._born -= client.max_connection_age + 1
    _patch_post(client, return_value=_response(200, b"0#1"))
    client._checkout(Endpoint.SEND)
    client._checkin()
    assert client._session is not first


def test_password_stays_out_of_repr_logs_and_errors(simulator, hbsms_conn, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    hook = HbSmsHook()
    client = hook.client
    simulator.inject_fault("close_after_processing")
    with pytest.raises(SendOutcomeUnknownError) as caught:
        client.send_personalized(ITEMS)
    client.send_personalized(ITEMS)
    client.get_balance()
    for text in (repr(client), repr(client.credentials), str(caught.value), caplog.text):
        assert SIM_PASSWORD not in text
        assert "s3cret%26pwd" not in text.lower()
