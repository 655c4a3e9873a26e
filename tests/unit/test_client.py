"""HbSmsClient: what is retried, what is never retried, and where the password never goes."""

from __future__ import annotations

import io
import socket
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from http.client import RemoteDisconnected
from unittest import mock

import pytest
import requests
import urllib3

from airflow_provider_hbsms import (
    PullReplyLostError,
    RateLimitedError,
    RequestNotSentError,
    SendOutcomeUnknownError,
    UnexpectedReplyError,
)
from airflow_provider_hbsms.client import HbSmsClient
from airflow_provider_hbsms.plain_transport import PlainConnections
from airflow_provider_hbsms.protocol import Credentials, Endpoint, PersonalizedItem

SECRET = "Pa55&w0rd=%s3cret"
CREDS = Credentials("corp", SECRET, "svc")
ITEMS = [PersonalizedItem("13800138000", "id1", "你好")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Reply:
    """A reply as ``http.client`` hands it over."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.reason, self.will_close, self._body = status, "", False, body
        self.length = len(body)  # from Content-Length

    def read(self, amt: int | None = None) -> bytes:
        return self._body


def _response(status: int, body: bytes) -> _Reply:
    return _Reply(status, body)


@pytest.fixture
def client(tmp_path) -> HbSmsClient:
    return HbSmsClient("http://127.0.0.1:9", CREDS, pacing_dir=tmp_path, rate_limit_wait=1)


def _patch_post(client: HbSmsClient, **kwargs) -> mock.MagicMock:
    """Replace the connection under the client's plain-HTTP pool (its ``getresponse`` answers
    or fails as told), keeping the client's and the pool's own logic."""
    connection = mock.MagicMock(sock=None)
    connection.getresponse = mock.MagicMock(**kwargs)
    mock.patch.object(PlainConnections, "_take", return_value=connection).start()
    return connection.getresponse


@pytest.fixture(autouse=True)
def _stop_patches():
    yield
    mock.patch.stopall()


def test_refused_connection_is_a_request_not_sent_error(tmp_path) -> None:
    client = HbSmsClient(f"http://127.0.0.1:{_free_port()}", CREDS, pacing_dir=tmp_path)
    with pytest.raises(RequestNotSentError) as caught:
        client.send_personalized(ITEMS)
    assert caught.value.endpoint is Endpoint.PERSONALIZED_SEND
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    "failure",
    [
        TimeoutError("timed out"),
        ConnectionResetError(104, "reset"),
        RemoteDisconnected("Remote end closed connection without response"),
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
            TimeoutError("timed out"),
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
    post = _patch_post(client, side_effect=TimeoutError("timed out"))
    with pytest.raises(PullReplyLostError) as caught:
        client.fetch_replies()
    assert post.call_count == 1
    error = caught.value
    assert error.endpoint is Endpoint.PULL_REPLIES
    assert abs((datetime.now(UTC) - error.lost_at).total_seconds()) < 5
    text = str(error)
    # One story: the page was handed over and is gone; what still comes; whom to ask.
    assert "may have been processed" not in text
    assert "not delivered" not in text
    assert "gone from its queue" in text
    assert error.lost_at.isoformat() in text
    assert "next pull" in text
    assert "vendor" in text
    assert "history" in text
    assert not isinstance(error, RequestNotSentError)


def test_unreadable_pull_keeps_the_raw_body(client) -> None:
    body = b"<reports><report><mobile>1</mobile>"
    _patch_post(client, return_value=_response(200, body))
    with pytest.raises(UnexpectedReplyError) as caught:
        client.fetch_reports()
    assert caught.value.body == body


def test_connections_are_recycled_after_their_age(client) -> None:
    pools = client.transport.pools
    first = pools.pool
    pools.born -= client.max_connection_age + 1
    _patch_post(client, return_value=_response(200, b"0#1"))
    pools.checkout(idempotent=False)
    pools.checkin()
    assert pools.pool is not first


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (requests.exceptions.ConnectTimeout("connect timed out"), RequestNotSentError),
        (requests.exceptions.ReadTimeout("read timed out"), SendOutcomeUnknownError),
        (requests.exceptions.ConnectionError("Connection aborted."), SendOutcomeUnknownError),
    ],
)
def test_https_and_proxied_requests_go_through_the_adapter(tmp_path, failure, expected) -> None:
    """TLS and proxies need requests' adapter; its failures are classified the same way."""
    client = HbSmsClient("https://127.0.0.1:9", CREDS, pacing_dir=tmp_path)
    adapter = client.transport.sessions.pool.get_adapter(client.base_url)
    with mock.patch.object(adapter, "send", side_effect=failure) as send, pytest.raises(expected):
        client.send_personalized(ITEMS)
    assert send.call_count == 1
    ok = requests.Response()
    ok.status_code = 200
    ok.raw = urllib3.HTTPResponse(
        body=io.BytesIO(b"0#1"), headers={"Content-Length": "3"}, preload_content=False
    )
    with mock.patch.object(adapter, "send", return_value=ok):
        assert client.send_personalized(ITEMS).accepted == 1


def test_a_connection_the_server_closed_while_idle_is_not_reused(tmp_path) -> None:
    """The server answers with keep-alive, then drops the idle connection: the next send opens
    a new one instead of writing into the dead one (which would make its outcome unknown)."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    answered: list[int] = []

    def serve() -> None:
        for _ in range(2):
            conn, _ = server.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                while len(body) < length:
                    body += conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n0#1")
                answered.append(len(body))
            # leaving the with-block closes the connection the client keeps idle

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = HbSmsClient(f"http://127.0.0.1:{port}", CREDS, pacing_dir=tmp_path)
    assert client.send_personalized(ITEMS).accepted == 1
    deadline = time.monotonic() + 5
    while len(answered) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # the close reaches the client's socket
    assert client.send_personalized(ITEMS).accepted == 1
    thread.join(timeout=5)
    server.close()
    assert len(answered) == 2


def test_the_idle_check_works_without_poll(monkeypatch) -> None:
    """Where select.poll is missing, select() tells a closed idle connection just the same."""
    import select as select_module

    from airflow_provider_hbsms import plain_transport as transport

    monkeypatch.delattr(select_module, "poll")
    left, right = socket.socketpair()
    try:
        assert transport._closed_by_peer(left) is False
        right.close()
        assert transport._closed_by_peer(left) is True
    finally:
        left.close()
