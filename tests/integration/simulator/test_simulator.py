"""The gateway simulator over real HTTP: limits, charging, hand-over, pushes and faults."""

from __future__ import annotations

import json
import os
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hbsms.hooks.hbsms import HbSmsHook
from airflow_provider_hbsms.protocol import (
    Credentials,
    Endpoint,
    PersonalizedItem,
    build_personalized_body,
    build_send_body,
    encode_form,
    parse_replies,
    parse_reports,
)
from airflow_provider_hbsms.simulator import GatewaySimulator, SimulatorConfig, SimulatorProcess
from airflow_provider_hbsms.simulator.gateway import Gateway
from tests.fixtures.simulator import SIM_CORP_ID, SIM_PASSWORD, sim_account

if TYPE_CHECKING:
    from tests.fixtures.push_receiver import PushReceiver

CREDS = Credentials(SIM_CORP_ID, "s3cret&pwd=%+", "svc")


def _post(sim: GatewaySimulator, endpoint: Endpoint, body: bytes) -> str:
    reply = requests.post(sim.base_url + endpoint.path, data=body, timeout=10)
    assert reply.status_code == 200
    return reply.content.decode("gbk")


def test_invalid_numbers_are_dropped_silently(simulator) -> None:
    body = build_send_body(
        CREDS, ["13800138000", "12345", "13800138001", "99999999999"], "hi", "m1", validate=False
    )
    assert _post(simulator, Endpoint.SEND, body) == "0#2"
    assert [m.mobile for m in simulator.received()] == ["13800138000", "13800138001"]


def test_personalized_all_failed_is_0_0(simulator) -> None:
    items = [PersonalizedItem("123", "a", "hi"), PersonalizedItem("13800138000", "b", "x" * 1001)]
    body = build_personalized_body(CREDS, items, validate=False)
    assert _post(simulator, Endpoint.PERSONALIZED_SEND, body) == "0#0"
    assert simulator.received() == []


def test_balance_is_charged_per_billed_segment(simulator_factory) -> None:
    sim = simulator_factory(accounts=[sim_account(balance=Decimal(100), signature="【签名】")])
    long_text = "字" * 190  # 194 characters with the signature: 3 segments
    body = build_send_body(CREDS, ["13800138000", "13800138001", "13800138002"], long_text, "m")
    assert _post(sim, Endpoint.SEND, body) == "0#3"
    assert sim.balance() == "91"
    assert {m.segments for m in sim.received()} == {3}
    sim.flush_reports()
    reports = parse_reports(requests.post(sim.base_url + "/post_report.do", data=_pull()).content)
    assert sorted((r.mobile, r.sub_seq) for r in reports) == [
        (m, s) for m in ("13800138000", "13800138001", "13800138002") for s in (1, 2, 3)
    ]


def test_personalized_reply_counts_segments_when_configured(simulator_factory) -> None:
    sim = simulator_factory(accounts=[sim_account(personalized_counts_segments=True)])
    items = [
        PersonalizedItem("13800138000", "a", "字" * 140),
        PersonalizedItem("13800138001", "b", "hi"),
    ]
    assert _post(sim, Endpoint.PERSONALIZED_SEND, build_personalized_body(CREDS, items)) == "0#4"


def _pull() -> bytes:
    return f"corp_id={SIM_CORP_ID}&user_id={SIM_CORP_ID}&corp_pwd=s3cret%26pwd%3D%25%2B".encode()


def test_pulls_hand_over_once_in_bodies_of_at_most_100(simulator, hbsms_conn) -> None:
    hook = HbSmsHook()
    for start in range(0, 250, 200):
        items = [
            PersonalizedItem(f"138{i:08d}", f"id{i}", "hi")
            for i in range(start, min(start + 200, 250))
        ]
        hook.send_personalized(items)
    batches = [hook.fetch_reports() for _ in range(4)]
    assert [len(b) for b in batches] == [100, 100, 50, 0]
    assert len({r.msg_id for b in batches for r in b}) == 250
    for i in range(12):
        simulator.inject_reply(f"139{i:08d}", f"回复{i}", "12")
    replies = [hook.fetch_replies() for _ in range(3)]
    assert [len(b) for b in replies] == [10, 2, 0]
    assert replies[0][0].content == "回复0"
    assert replies[0][0].ext == "12"


def test_recorded_text_is_byte_exact(simulator, hbsms_conn) -> None:
    text = "尊敬的张三：余额 50% & + = \"quoted\" 'single' ~!@#$^*()[]{}|\\/<>?"
    HbSmsHook().send_personalized([PersonalizedItem("13800138000", "id1", text, "7")])
    (message,) = simulator.received()
    assert message.content.encode("gbk") == text.encode("gbk")
    assert (message.mobile, message.msg_id, message.ext) == ("13800138000", "id1", "7")


@settings(max_examples=100, deadline=None)
@given(
    items=st.lists(
        st.tuples(
            st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
            st.text("abcdefXYZ0123456789-_", min_size=1, max_size=50),
            st.text(
                alphabet=st.characters(codec="gbk", exclude_categories=("Cs", "Cc")),
                min_size=1,
                max_size=200,
            ).filter(lambda t: t.strip() and "&split&" not in t and "&group&" not in t),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_any_valid_message_round_trips_through_the_gateway(items) -> None:
    """build -> the simulator's parse -> 0#N, with every text recorded as sent."""
    gateway = Gateway(SimulatorConfig(accounts=[sim_account()]))
    built = [PersonalizedItem(m, i, c) for m, i, c in items]
    body = build_personalized_body(CREDS, built)
    assert gateway.handle("POST", Endpoint.PERSONALIZED_SEND.path, body, "127.0.0.1") == (
        f"0#{len(items)}"
    )
    assert [(r.mobile, r.msg_id, r.content) for r in gateway.received] == items


def test_pushes_retry_until_the_customer_answers_0(
    simulator_factory, push_receiver: PushReceiver
) -> None:
    push_receiver.fail_first = 1
    account = sim_account(report_push_url=push_receiver.url, reply_push_url=push_receiver.url)
    sim = simulator_factory(accounts=[account], push_interval=0.05, push_retries=3)
    body = build_send_body(CREDS, ["13800138000", "13800138001"], "hi", "m1")
    assert _post(sim, Endpoint.SEND, body) == "0#2"
    sim.inject_reply("13800138000", "TD", "")
    _wait_for(lambda: sum(a.outcome == "ok" for a in sim.push_log()) == 2)
    log = sim.push_log()
    assert [(a.kind, a.attempt) for a in log if a.kind == "reports"][:2] == [
        ("reports", 1),
        ("reports", 2),
    ]
    reports = [r for b in push_receiver.bodies if b"<reports>" in b for r in parse_reports(b)]
    # The same body was pushed twice (first answer was 9): both copies carry the 2 reports.
    assert len(reports) == 4
    assert {r.mobile for r in reports} == {"13800138000", "13800138001"}
    replies = [r for b in push_receiver.bodies if b"<delivers>" in b for r in parse_replies(b)]
    assert [r.content for r in replies] == ["TD"]
    # Pushed items are not offered to pulls as well.
    assert requests.post(sim.base_url + "/post_report.do", data=_pull()).text == "0"


def test_pushes_give_up_after_the_retries(simulator_factory, push_receiver: PushReceiver) -> None:
    push_receiver.fail_first = 99
    sim = simulator_factory(
        accounts=[sim_account(report_push_url=push_receiver.url)],
        push_interval=0.01,
        push_retries=3,
    )
    _post(sim, Endpoint.SEND, build_send_body(CREDS, ["13800138000"], "hi", "m1"))
    _wait_for(lambda: len(sim.push_log()) == 4)
    assert [a.attempt for a in sim.push_log()] == [1, 2, 3, 4]
    assert all(a.outcome.startswith("reply") for a in sim.push_log())


@pytest.mark.parametrize("kind", ["close_before_processing", "close_after_processing", "http_500"])
def test_faults(simulator, kind) -> None:
    simulator.inject_fault(kind, endpoint=Endpoint.SEND.path, after=1)
    body = build_send_body(CREDS, ["13800138000"], "hi", "m1")
    assert _post(simulator, Endpoint.SEND, body) == "0#1"  # let through
    if kind == "http_500":
        assert requests.post(simulator.base_url + "/sms_send2.do", data=body).status_code == 500
    else:
        with pytest.raises(requests.ConnectionError):
            requests.post(simulator.base_url + "/sms_send2.do", data=body, timeout=5)
    processed = 2 if kind == "close_after_processing" else 1
    assert len(simulator.received()) == processed
    assert _post(simulator, Endpoint.SEND, body) == "0#1"  # the fault struck once


def test_malformed_reply_after_processing(simulator) -> None:
    simulator.inject_fault("malformed_reply")
    text = _post(simulator, Endpoint.SEND, build_send_body(CREDS, ["13800138000"], "hi", "m1"))
    assert not text.startswith("0#")
    assert len(simulator.received()) == 1


def test_subprocess_mode_and_admin_api() -> None:
    account = {"corp_id": "test", "corp_pwd": "s3cret&pwd=%+", "services": ["svc"], "balance": 50}
    with SimulatorProcess("--report-delay", "0", accounts=[account]) as sim:
        command_line = Path(f"/proc/{sim.process.pid}/cmdline").read_bytes()  # what ps shows
        assert b"s3cret" not in command_line
        body = build_send_body(CREDS, ["13800138000"], "你好", "m1")
        assert requests.post(sim.base_url + "/sms_send2.do", data=body).text == "0#1"
        sim.admin("replies", {"mobile": "13800138000", "content": "TD"})
        sim.admin("faults", {"kind": "http_500", "endpoint": "/sms_send2.do"})
        assert requests.post(sim.base_url + "/sms_send2.do", data=body).status_code == 500
        stats = sim.admin("stats")
        assert stats["messages"] == 1
        assert stats["accounts"]["test"]["balance"] == "49"
        assert stats["accounts"]["test"]["waiting_replies"] == 1
        assert sim.admin("messages")[0]["content"] == "你好"


def test_cli_reads_accounts_from_a_file_or_the_environment(tmp_path) -> None:
    from airflow_provider_hbsms.simulator.cli import build_parser, config_from_args

    accounts = [
        {
            "corp_id": "corp",
            "corp_pwd": "pa:ss%x&y",
            "services": ["svc"],
            "balance": "12.5",
            "channel_number": "0123",
        }
    ]
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps(accounts))
    config = config_from_args(build_parser().parse_args(["--accounts-file", str(path)]))
    (account,) = config.accounts
    assert (account.corp_id, account.corp_pwd, account.services) == ("corp", "pa:ss%x&y", ("svc",))
    assert (str(account.balance), account.channel_number) == ("12.5", "0123")
    with mock.patch.dict(os.environ, {"HBSMS_SIMULATOR_ACCOUNTS": json.dumps(accounts)}):
        (account,) = config_from_args(build_parser().parse_args([])).accounts
    assert account.corp_pwd == "pa:ss%x&y"


def test_cli_refuses_passwords_on_the_command_line(capsys) -> None:
    from airflow_provider_hbsms.simulator.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["--account", "corp:pa%3Ass:svc"])
    message = capsys.readouterr().err
    assert "--accounts-file" in message
    assert "HBSMS_SIMULATOR_ACCOUNTS" in message
    assert "pa%3Ass" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not json", "not JSON"),
        ("[]", "a JSON list"),
        ('[{"corp_id": "c"}]', "account 0: corp_pwd must be a non-empty string"),
        ('[{"corp_id": "c", "corp_pwd": "p", "pasword": "x"}]', "unknown field(s) pasword"),
        ('[{"corp_id": "c", "corp_pwd": "p", "balance": "lots"}]', "balance must be a number"),
    ],
)
def test_bad_accounts_are_refused_naming_the_field(tmp_path, text, expected) -> None:
    from airflow_provider_hbsms.simulator.cli import AccountsError, load_accounts

    path = tmp_path / "accounts.json"
    path.write_text(text)
    with pytest.raises(AccountsError, match=re.escape(expected)) as caught:
        load_accounts(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("endpoint", [Endpoint.SEND, Endpoint.PULL_REPORTS, Endpoint.PULL_REPLIES])
def test_pwd_is_refused_where_the_document_names_corp_pwd(simulator, endpoint) -> None:
    """Every parameter table names corp_pwd; a client sending pwd there is wrong."""
    form = {"corp_id": SIM_CORP_ID, "user_id": SIM_CORP_ID, "pwd": SIM_PASSWORD}
    if endpoint is Endpoint.SEND:
        form.update(
            corp_service="svc", mobile="13800138000", msg_content="hi", corp_msg_id="m1", ext=""
        )
    text = _post(simulator, endpoint, encode_form(form.items()))
    assert text == ("107" if endpoint is Endpoint.SEND else "-17")
    assert simulator.received() == []


def test_pwd_is_taken_on_balance_as_the_documents_demo_sends_it(simulator) -> None:
    form = {"corp_id": SIM_CORP_ID, "user_id": SIM_CORP_ID, "pwd": SIM_PASSWORD}
    assert _post(simulator, Endpoint.BALANCE, encode_form(form.items())).startswith("ok#")
    form["pwd"] = "wrong"
    time.sleep(0.25)
    assert _post(simulator, Endpoint.BALANCE, encode_form(form.items())) == "107"


def _wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
