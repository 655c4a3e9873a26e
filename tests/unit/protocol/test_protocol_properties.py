"""Property tests of the sans-I/O protocol layer: what is built decodes back exactly, what is
invalid is refused, and every reply form parses to the right result."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_hbsms import GatewayError, HbSmsValidationError, UnexpectedReplyError
from airflow_provider_hbsms.protocol import (
    Credentials,
    Endpoint,
    PersonalizedItem,
    Report,
    build_personalized_body,
    build_reports_xml,
    build_send_body,
    check_content,
    count_segments,
    decode_form,
    normalize_mobile,
    parse_reports,
    parse_send_reply,
    split_send_param,
)
from airflow_provider_hbsms.protocol.errors import ERROR_CODES


def _gbk_ok(text: str) -> bool:
    try:
        text.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


# Text the gateway can carry: GBK-encodable, not blank, no personalized separators.
gbk_text = (
    st.text(
        alphabet=st.characters(codec="gbk", exclude_categories=("Cs", "Cc")),
        min_size=1,
        max_size=300,
    )
    .filter(lambda t: t.strip() and "&split&" not in t and "&group&" not in t)
    .filter(_gbk_ok)
)
mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
msg_ids = st.text(alphabet=string.ascii_letters + string.digits + "-_.:", min_size=1, max_size=50)
exts = st.text(alphabet=string.digits, max_size=8)
passwords = st.text(alphabet=st.characters(codec="gbk", exclude_categories=("Cs",)), min_size=1)
CREDS = Credentials("corp", "p&ss=w%rd+", "svc")


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(st.tuples(mobiles, msg_ids, exts, gbk_text), min_size=1, max_size=20))
def test_personalized_body_round_trips(items: list[tuple[str, str, str, str]]) -> None:
    built = [PersonalizedItem(m, i, c, e) for m, i, e, c in items]
    form = decode_form(build_personalized_body(CREDS, built))
    assert form["total_count"] == str(len(built))
    assert form["corp_pwd"] == CREDS.corp_pwd
    assert split_send_param(form["send_param"]) == [[m, i, e, c] for m, i, e, c in items]


@settings(max_examples=100)
@given(numbers=st.lists(mobiles, min_size=1, max_size=200), content=gbk_text, msg_id=msg_ids)
def test_send_body_round_trips(numbers: list[str], content: str, msg_id: str) -> None:
    form = decode_form(build_send_body(CREDS, numbers, content, msg_id, "12"))
    assert form["mobile"].split(",") == numbers
    assert form["msg_content"] == content
    assert (form["corp_msg_id"], form["ext"]) == (msg_id, "12")


@settings(max_examples=200)
@given(password=passwords)
def test_any_password_round_trips(password: str) -> None:
    form = decode_form(build_send_body(Credentials("c", password, "s"), ["13800138000"], "x", "m"))
    assert form["corp_pwd"] == password


@given(number=mobiles, prefix=st.sampled_from(["", "+86", "0086", "86", "+86 ", "86-"]))
def test_mobile_prefixes_and_noise_normalise(number: str, prefix: str) -> None:
    noisy = f"{prefix}{number[:3]} {number[3:7]}-{number[7:]}"
    assert normalize_mobile(noisy) == number
    assert normalize_mobile(int(number)) == number


@pytest.mark.parametrize("bad", ["12345", "23800138000", "138001380001", "abc", "", None, 1.5])
def test_invalid_mobiles_are_refused(bad: object) -> None:
    with pytest.raises(HbSmsValidationError, match="mobile"):
        normalize_mobile(bad)


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 1001, "at most 1000"),
        ("hi 😀", "U+1F600"),
        ("a&group&b", "&group&"),
        ("a&split&b", "&split&"),
    ],
)
def test_content_rules(content: str, rule: str) -> None:
    with pytest.raises(HbSmsValidationError, match=re.escape(rule)):
        check_content(content, personalized=True)


@given(length=st.integers(min_value=1, max_value=1000))
def test_segments(length: int) -> None:
    expected = 1 if length <= 70 else -(-length // 67)
    assert count_segments("字" * length) == expected


def test_segments_count_the_signature() -> None:
    assert count_segments("a" * 66, "【签名】") == 1
    assert count_segments("a" * 67, "【签名】") == 2
    assert count_segments("【签名】" + "a" * 66, "【签名】") == 1  # already in the text


@given(n=st.integers(min_value=0, max_value=10**6))
def test_accepted_reply(n: int) -> None:
    assert parse_send_reply(f"0#{n}".encode(), Endpoint.SEND) == n
    assert parse_send_reply(f" 0#{n}\r\n".encode(), Endpoint.PERSONALIZED_SEND) == n


@given(text=st.text(max_size=30))
def test_any_other_reply_is_an_error_never_a_success(text: str) -> None:
    stripped = text.strip().lstrip("\ufeff").strip()
    if stripped.startswith("0#") and stripped[2:].isdigit() and stripped[2:].isascii():
        return
    with pytest.raises(GatewayError) as caught:
        parse_send_reply(text.encode("gbk", errors="replace"), Endpoint.SEND)
    if stripped in ERROR_CODES[Endpoint.SEND]:
        assert caught.value.code == stripped
    else:
        assert isinstance(caught.value, UnexpectedReplyError)


def test_zero_prefix_is_not_success() -> None:
    for reply in (b"0", b"0#", b"0#x", b"00#1", b"0#1#2"):
        with pytest.raises(UnexpectedReplyError):
            parse_send_reply(reply, Endpoint.SEND)


@settings(max_examples=100)
@given(
    rows=st.lists(
        st.tuples(
            mobiles, msg_ids, st.integers(0, 9), st.sampled_from(["0", "000", "2"]), gbk_text
        ),
        max_size=100,
    )
)
def test_reports_xml_round_trips(rows: list[tuple[str, str, int, str, str]]) -> None:
    reports = [Report(m, i, s, e, d.strip(), None, "corp") for m, i, s, e, d in rows]
    assert parse_reports(build_reports_xml(reports)) == reports


@pytest.mark.parametrize("mobile", ["138٠٠138000", "１３８００１３８０００", "13８00138000"])
def test_numbers_in_other_scripts_digits_are_not_mobile_numbers(mobile: str) -> None:
    """``\\d`` matches Arabic-Indic or full-width digits; a gateway reads only ASCII ones."""
    with pytest.raises(HbSmsValidationError, match="mobile"):
        normalize_mobile(mobile)
