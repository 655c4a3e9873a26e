"""The client against gateways that drip, close mid-body, never stop, or echo the request:
one deadline per request, a cap on reply bytes and pull items, the same typed errors on both
transports (``http.client`` and requests through a proxy), and no password in any error."""

from __future__ import annotations

import time
import tracemalloc
from datetime import datetime
from urllib.parse import quote, quote_plus

import pytest
from sqlalchemy import select

from airflow_provider_hbsms import (
    BalanceReplyLostError,
    PullReplyLostError,
    ReplyTooLargeError,
    SendOutcomeUnknownError,
    UnexpectedReplyError,
)
from airflow_provider_hbsms.client import HbSmsClient
from airflow_provider_hbsms.collector import Collector
from airflow_provider_hbsms.plain_transport import PlainTransport
from airflow_provider_hbsms.protocol import (
    GATEWAY_TZ,
    Credentials,
    PersonalizedItem,
    Report,
    build_reports_xml,
)
from airflow_provider_hbsms.requests_transport import RequestsTransport
from airflow_provider_hbsms.store.schema import pull_state
from tests.fixtures.gateway_doubles import (
    RawGateway,
    answering,
    body_of,
    closing_mid_body,
    dripping,
    endless,
    reply,
)

SECRET = "Pa55&w0rd=%s3cret!"
CREDS = Credentials("corp", SECRET, "svc")
ITEMS = [PersonalizedItem("13800138000", "id1", "你好")]
TRANSPORTS = ["plain", "proxy"]


@pytest.fixture
def make_client(tmp_path, monkeypatch):
    """``make_client(gateway, transport, **options)``: a client to ``gateway`` straight over
    http.client (``plain``) or through requests with ``gateway`` as its HTTP proxy (``proxy``)."""
    made: list[HbSmsClient] = []

    def make(gateway: RawGateway, transport: str, **options) -> HbSmsClient:
        for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        url = gateway.url
        if transport == "proxy":
            monkeypatch.setenv("HTTP_PROXY", gateway.url)
            url = "http://gateway.example:8080"  # reached only through the proxy
        options = {"connect_timeout": 1, "read_timeout": 2, "rate_limit_wait": 1, **options}
        client = HbSmsClient(url, CREDS, pacing_dir=tmp_path, **options)
        expected = RequestsTransport if transport == "proxy" else PlainTransport
        assert type(client.transport) is expected
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def _timed(call):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    try:
        call()
    except Exception as exc:
        return exc, time.monotonic() - started
    raise AssertionError("no error raised")


# ------------------------------------------------------------------ the deadline


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_dripping_gateway_cannot_hold_a_send_past_the_deadline(make_client, transport) -> None:
    # Every byte comes within the 2 s read timeout: only an overall deadline stops this.
    with RawGateway(dripping(reply(b"0#1"), every=0.3)) as gateway:
        client = make_client(gateway, transport, deadline=2.5)
        error, took = _timed(lambda: client.send_personalized(ITEMS))
    assert isinstance(error, SendOutcomeUnknownError)
    assert took < 3.5, took


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_deadline_is_connect_plus_read_timeout_by_default(make_client, transport) -> None:
    with RawGateway(dripping(reply(b"ok#1"), every=0.3)) as gateway:
        client = make_client(gateway, transport, connect_timeout=0.5, read_timeout=1.5)
        assert client.deadline == 2.0
        error, took = _timed(lambda: client.get_balance(retry_transport=False))
    assert isinstance(error, BalanceReplyLostError)  # it left: its reply was lost
    assert took < 3.0, took


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_dripped_pull_reply_is_a_lost_page(make_client, transport) -> None:
    with RawGateway(dripping(reply(b"0"), every=0.3)) as gateway:
        client = make_client(gateway, transport, deadline=1.5)
        error, took = _timed(client.fetch_reports)
    assert isinstance(error, PullReplyLostError)
    assert took < 2.5


# ------------------------------------------------------------------ the same typed errors


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_close_mid_body_is_typed_on_both_transports(make_client, transport) -> None:
    with RawGateway(closing_mid_body()) as gateway:
        client = make_client(gateway, transport)
        with pytest.raises(SendOutcomeUnknownError):
            client.send_personalized(ITEMS)
        with pytest.raises(BalanceReplyLostError):
            client.get_balance()
        with pytest.raises(PullReplyLostError):
            client.fetch_replies()
    # Balance changes nothing: it was tried again until rate_limit_wait ran out.
    balance_calls = [r for r in gateway.requests if b"sms_count2.do" in r.split(b"\r\n")[0]]
    assert len(balance_calls) >= 2


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_balance_rides_out_a_close_mid_body(make_client, transport) -> None:
    calls: list[int] = []

    def flaky(conn, request) -> None:  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            closing_mid_body()(conn, request)
        else:
            conn.sendall(reply(b"ok#42.5"))

    with RawGateway(flaky) as gateway:
        client = make_client(gateway, transport, rate_limit_wait=5)
        assert str(client.get_balance()) == "42.5"
    assert len(calls) == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_collector_records_a_pull_lost_mid_body(make_client, transport, store) -> None:
    with RawGateway(closing_mid_body(sent=b"<?xml")) as gateway:
        client = make_client(gateway, transport)
        with pytest.raises(PullReplyLostError) as caught:
            Collector(client, store).drain_reports()
    lost_at = store.pulls.last_lost("corp", "reports")
    assert lost_at is not None
    assert lost_at == caught.value.lost_at
    with store.engine.connect() as conn:
        error = conn.execute(select(pull_state.c.last_error)).scalar()
    assert "pull reply lost" in error
    assert "gone from its queue" in error


# ------------------------------------------------------------------ caps


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("declared", [50_000_000, None], ids=["content-length", "chunked"])
def test_a_huge_reply_is_refused_without_reading_it(make_client, transport, declared) -> None:
    with RawGateway(endless(declared)) as gateway:
        client = make_client(gateway, transport, read_timeout=5, max_reply_bytes=1 << 20)
        tracemalloc.start()
        try:
            with pytest.raises(ReplyTooLargeError) as caught:
                client.fetch_reports()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        with pytest.raises(SendOutcomeUnknownError, match="refused"):
            client.send_personalized(ITEMS)
    assert peak < 8 * (1 << 20), peak  # the cap and a copy, never the 50 MB
    # What was read of a pull is kept for a dead letter; never more than the cap.
    assert 0 < len(caught.value.body) <= 1 << 20


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_pull_of_more_items_than_the_protocol_sends_is_refused_and_kept(
    make_client, transport, store
) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=GATEWAY_TZ)
    reports = [Report(f"138{i:08d}", f"m{i}", 0, "0", "", when, "corp") for i in range(150)]
    body = build_reports_xml(reports)
    with RawGateway(answering(body)) as gateway:
        client = make_client(gateway, transport)
        with pytest.raises(ReplyTooLargeError, match="150 items") as caught:
            client.fetch_reports()
        assert caught.value.body == body
        result = Collector(client, store).drain_reports(max_pulls=1)
    assert result.dead_letters == 1
    assert result.new == 0


# ------------------------------------------------------------------ no password in errors


def _echo(request: bytes) -> bytes:
    """What a gateway or proxy error page may hold: the request line, headers and body."""
    return b"400 Bad Request <pre>" + body_of(request) + b"\n" + request + b"</pre>"


def _fragments(secret: str) -> list[str]:
    """Every form of ``secret`` and every 5-character piece of each."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), quote(secret.encode("gbk"))}
    return sorted({form[i : i + 5] for form in forms for i in range(len(form) - 4)})


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_echoed_request_never_brings_the_password_into_an_error(
    make_client, transport, store, caplog
) -> None:
    with RawGateway(answering(_echo)) as gateway:
        client = make_client(gateway, transport)
        errors = []
        for call in (
            lambda: client.send_personalized(ITEMS),
            lambda: client.get_balance(),
            lambda: Collector(client, store).drain_replies(max_pulls=3),
        ):
            with pytest.raises((UnexpectedReplyError, SendOutcomeUnknownError)) as caught:
                call()
            errors.append(str(caught.value))
        assert any(b"corp_pwd=" in body_of(r) for r in gateway.requests)
    with store.engine.connect() as conn:
        errors.append(conn.execute(select(pull_state.c.last_error)).scalar())
    errors.append(caplog.text)
    for text in errors:
        assert "corp_pwd=" not in text or "corp_pwd=***" in text
        for piece in _fragments(SECRET):
            assert piece not in text, (piece, text)
