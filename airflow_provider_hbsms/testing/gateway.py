"""The simulated gateway's test account, and an Airflow connection pointing at a simulator."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow_provider_hbsms.simulator import SimAccount

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from airflow_provider_hbsms.simulator import GatewaySimulator

TEST_CORP_ID = "test"
#: URL-special characters on purpose: a test then proves the password is encoded right.
TEST_PASSWORD = "s3cret&pwd=%+"
TEST_SERVICE = "svc"
TEST_CHANNEL = "10657"


def simulated_account(**changes: Any) -> SimAccount:
    """The simulator's test account (a large balance, service ``svc``), with ``changes``."""
    settings: dict[str, Any] = {
        "corp_id": TEST_CORP_ID,
        "corp_pwd": TEST_PASSWORD,
        "services": (TEST_SERVICE,),
        "balance": Decimal("100000000"),
        "channel_number": TEST_CHANNEL,
    }
    settings.update(changes)
    return SimAccount(**settings)


def connection_for(
    simulator: GatewaySimulator,
    conn_id: str = "hbsms_default",
    password: str | None = None,
    **extra: Any,
) -> Connection:
    """An ``hbsms`` connection to ``simulator`` with its first account's credentials, service
    and channel number.

    :param simulator: a started simulator.
    :param conn_id: the connection's id.
    :param password: the password to connect with (default: the account's own; another one
        makes every call fail as the gateway's wrong-password codes say).
    :param extra: connection extras, over the account's service and channel number.
    """
    from airflow.sdk import Connection

    account = simulator.config.accounts[0] if simulator.config.accounts else simulated_account()
    host, port = simulator.base_url.removeprefix("http://").split(":")
    extras = {
        "corp_service": account.services[0] if account.services else "",
        "channel_number": account.channel_number,
        **extra,
    }
    return Connection(
        conn_id=conn_id,
        conn_type="hbsms",
        host=host,
        port=int(port),
        schema="http",
        login=account.corp_id,
        password=account.corp_pwd if password is None else password,
        extra=json.dumps(extras),
    )
