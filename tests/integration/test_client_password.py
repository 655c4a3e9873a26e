"""The account password stays out of the client's repr, its logs and its errors, against the
simulator with a fault that makes a send's outcome unknown."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_hbsms import SendOutcomeUnknownError
from airflow_provider_hbsms.hooks.hbsms import HbSmsHook
from airflow_provider_hbsms.protocol import PersonalizedItem
from tests.fixtures.simulator import SIM_PASSWORD

ITEMS = [PersonalizedItem("13800138000", "id1", "你好")]


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
