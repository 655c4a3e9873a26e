"""The test kit's pytest fixtures, as a user's test suite sees them (entry point ``pytest11``)."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from airflow_provider_hbsms.hooks.hbsms import HbSmsHook
from airflow_provider_hbsms.operators.send import HbSmsSendOperator
from airflow_provider_hbsms.testing import TEST_CORP_ID, TEST_PASSWORD, simulated_account


def test_connection_fixture_points_the_hook_at_the_simulator(hbsms_connection) -> None:
    assert hbsms_connection.login == TEST_CORP_ID
    assert HbSmsHook().get_balance() == Decimal("100000000")
    assert HbSmsHook().test_connection()[0] is True


def test_simulator_factory_takes_other_accounts(hbsms_simulator_factory) -> None:
    from airflow_provider_hbsms.testing import connection_for

    simulator = hbsms_simulator_factory(accounts=[simulated_account(corp_id="other")])
    conn = connection_for(simulator, conn_id="other")
    assert conn.login == "other"
    assert simulator.base_url.startswith("http://127.0.0.1:")


def test_a_send_task_against_the_simulator(hbsms_connection, hbsms_simulator, hbsms_store) -> None:
    from types import SimpleNamespace

    frame = pd.DataFrame({"mobile": ["13900000001", "13900000002"]})
    ti = SimpleNamespace(dag_id="d", task_id="send", run_id="r", map_index=-1)
    result = HbSmsSendOperator(task_id="send", input=frame, content="通知").execute({"ti": ti})
    assert result["accepted"] == 2
    assert sorted(m.mobile for m in hbsms_simulator.received()) == ["13900000001", "13900000002"]
    assert hbsms_store.ledger.batches(result["campaign_key"])[0].state == "accepted"


def test_connection_for_takes_another_password(hbsms_simulator, monkeypatch, tmp_path) -> None:
    from airflow_provider_hbsms import AuthenticationError
    from airflow_provider_hbsms.testing import connection_for

    conn = connection_for(hbsms_simulator, password="wrong-password")
    monkeypatch.setenv("AIRFLOW_CONN_HBSMS_DEFAULT", conn.as_json())
    monkeypatch.setenv("HBSMS_PACING_DIR", str(tmp_path / "pacing"))
    with pytest.raises(AuthenticationError):
        HbSmsHook().get_balance()
    assert connection_for(hbsms_simulator).password == TEST_PASSWORD
