"""HbSmsClient's own rules, driven by the test kit's ``MockTransport``: which typed error each
transport failure becomes for each endpoint, what is retried, what is never retried."""

from __future__ import annotations

from datetime import datetime

import pytest

from airflow_provider_hbsms import (
    BalanceReplyLostError,
    PullReplyLostError,
    ReplyTooLargeError,
    RequestNotSentError,
    SendOutcomeUnknownError,
)
from airflow_provider_hbsms.client import HbSmsClient
from airflow_provider_hbsms.protocol import (
    GATEWAY_TZ,
    Credentials,
    Endpoint,
    PersonalizedItem,
    Report,
    build_reports_xml,
)
from airflow_provider_hbsms.testing import MockTransport
from airflow_provider_hbsms.transport import MaybeSent, NotSent, TooLarge

SECRET = "Pa55&w0rd=%s3cret"
CREDS = Credentials("corp", SECRET, "svc")
ITEMS = [PersonalizedItem("13800138000", "id1", "你好")]


@pytest.fixture
def make(tmp_path):
    def make(*answers, **options) -> tuple[HbSmsClient, MockTransport]:
        transport = MockTransport(answers)
        options = {"rate_limit_wait": 1, "pacing_interval": 0.01, **options}
        client = HbSmsClient(
            "http://gateway.test", CREDS, pacing_dir=tmp_path, transport=transport, **options
        )
        return client, transport

    return make


def _report(n: int) -> Report:
    return Report("13800138000", f"m{n}", "0", "DELIVRD", datetime(2026, 5, 1, tzinfo=GATEWAY_TZ))


def test_a_send_posts_once_as_a_non_idempotent_request(make) -> None:
    client, transport = make(b"0#1")
    result = client.send(["13800138000"], "hi", "m1")
    assert (result.submitted, result.accepted) == (1, 1)
    (request,) = transport.requests
    assert request.path == "/sms_send2.do"
    assert request.idempotent is False
    assert request.form["corp_msg_id"] == "m1"
    assert request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (NotSent("ConnectionRefusedError: refused"), RequestNotSentError),
        (MaybeSent("TimeoutError: timed out"), SendOutcomeUnknownError),
        (TooLarge("reply over 1024 bytes refused", b"x"), SendOutcomeUnknownError),
        ((502, b"Bad Gateway"), SendOutcomeUnknownError),
        (b"<html>proxy</html>", SendOutcomeUnknownError),
    ],
)
def test_a_failed_send_is_typed_and_never_repeated(make, failure, expected) -> None:
    client, transport = make(failure)
    with pytest.raises(expected) as caught:
        client.send_personalized(ITEMS)
    assert len(transport.requests) == 1
    assert caught.value.endpoint is Endpoint.PERSONALIZED_SEND
    assert SECRET not in str(caught.value)


def test_balance_is_asked_again_until_it_answers(make) -> None:
    client, transport = make(NotSent("refused"), MaybeSent("reset"), b"104", b"ok#12.5")
    assert str(client.get_balance()) == "12.5"
    assert transport.paths == ["/sms_count2.do"] * 4
    assert all(request.idempotent for request in transport.requests)


@pytest.mark.parametrize(
    ("failure", "expected"),
    [(NotSent("refused"), RequestNotSentError), (MaybeSent("reset"), BalanceReplyLostError)],
)
def test_a_quick_balance_check_is_not_retried(make, failure, expected) -> None:
    client, transport = make(failure)
    with pytest.raises(expected):
        client.get_balance(retry_transport=False)
    assert len(transport.requests) == 1


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (NotSent("refused"), RequestNotSentError),
        (MaybeSent("TimeoutError: timed out"), PullReplyLostError),
        ((500, b"oops"), PullReplyLostError),
    ],
)
def test_a_failed_pull_is_typed_and_never_repeated(make, failure, expected) -> None:
    client, transport = make(failure)
    with pytest.raises(expected) as caught:
        client.fetch_reports()
    assert len(transport.requests) == 1
    if expected is PullReplyLostError:
        assert caught.value.corp_id == "corp"


def test_a_too_soon_pull_is_waited_out(make) -> None:
    client, transport = make(b"-19", b"-19", b"0")
    assert client.fetch_replies() == []
    assert transport.paths == ["/post_deliverMsg.do"] * 3


def test_an_oversized_pull_keeps_what_was_read_and_balance_does_not(make) -> None:
    client, _ = make(TooLarge("reply over the cap", b"<reports>"), TooLarge("over", b"ok#"))
    with pytest.raises(ReplyTooLargeError) as pulled:
        client.fetch_reports()
    assert pulled.value.body == b"<reports>"
    assert pulled.value.code == ""
    with pytest.raises(ReplyTooLargeError) as balance:
        client.get_balance(retry_transport=False)
    assert balance.value.body == b""


def test_a_pull_over_the_protocol_limit_is_refused_whole(make) -> None:
    body = build_reports_xml([_report(n) for n in range(101)])
    client, _ = make(body)
    with pytest.raises(ReplyTooLargeError, match="101 items") as caught:
        client.fetch_reports()
    assert caught.value.body == body


def test_reports_come_back_parsed(make) -> None:
    client, _ = make(build_reports_xml([_report(1), _report(2)]))
    assert [report.msg_id for report in client.fetch_reports()] == ["m1", "m2"]


def test_closing_the_client_closes_its_transport(make) -> None:
    client, transport = make()
    with client:
        pass
    assert transport.closed


def test_an_unscripted_request_fails_the_test(make) -> None:
    client, _ = make()
    with pytest.raises(AssertionError, match="no answer scripted"):
        client.send(["13800138000"], "hi", "m1")
