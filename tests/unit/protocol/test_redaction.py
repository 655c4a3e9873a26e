"""Redaction: the password field is taken out of any text an error may carry, whatever its
value, and ordinary replies are left alone."""

from __future__ import annotations

import pytest

from airflow_provider_hbsms.exceptions.redaction import redact


@pytest.mark.parametrize(
    "text",
    [
        "corp_id=corp&corp_pwd=Pa55%26w0rd%3D%25s3&corp_service=svc",
        "error near 'corp_pwd=Pa55%26w0rd%3D%25s3cret' in request",
        "corp%5Fpwd%3DPa55%26w0rd%3D",
        '{"corp_pwd": "Pa55 w0rd", "corp_id": "corp"}',
        "<corp_pwd>Pa55 w0rd</corp_pwd>",
        "POST /sms_count2.do?corp_id=corp&user_id=corp&pwd=Pa55",
        "password: Pa55w0rd",
    ],
)
def test_redaction_takes_the_field_out_whatever_its_value(text) -> None:
    shown = redact(text)
    assert "Pa55" not in shown
    assert "w0rd" not in shown


def test_redaction_leaves_ordinary_replies_alone() -> None:
    for text in ("107", "0#200", "ok#12.5", "<html>502 Bad Gateway</html>", "-19"):
        assert redact(text) == text
