"""The simulated gateway's accounts: what each holds (balance, queues, pacing marks), who may
use it, and the records of what arrived."""

from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from decimal import Decimal

    from airflow_provider_hbsms.protocol.models import Reply, Report
    from airflow_provider_hbsms.simulator.config import SimAccount


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A message the gateway accepted.

    :param endpoint: the send endpoint's path.
    :param corp_id: the account.
    :param mobile: the number.
    :param msg_id: the corp_msg_id / item msg_id.
    :param ext: the ext.
    :param content: the text as decoded from GBK.
    :param segments: billed segments (signature included).
    :param received_at: ``time.time()`` of acceptance.
    """

    endpoint: str
    corp_id: str
    mobile: str
    msg_id: str
    ext: str
    content: str
    segments: int
    received_at: float


@dataclass(frozen=True, slots=True)
class Arrival:
    """A balance or pull request as the gateway saw it arrive.

    :param at: ``time.monotonic()`` when the request had arrived whole.
    :param path: the endpoint's path.
    :param corp_id: the account named in the request (as sent, even if unknown).
    """

    at: float
    path: str
    corp_id: str


@dataclass(slots=True)
class PendingReport:
    """An accepted message whose delivery report is not due yet.

    :param due: ``time.time()`` from which its report may be handed over.
    :param mobile: the number.
    :param msg_id: the message's id.
    :param segments: its billed segments (one report each when the account splits).
    :param failed: whether its report says it failed.
    """

    due: float
    mobile: str
    msg_id: str
    segments: int
    failed: bool


@dataclass
class AccountState:
    """One account as the gateway holds it between requests.

    :param account: the account's settings.
    :param balance: what is left to spend.
    :param last_balance_call: ``time.monotonic()`` of the last balance call (pacing).
    :param last_pull: ``time.monotonic()`` of the last pull, per endpoint path (pacing).
    :param pending: accepted messages whose reports are not due yet.
    :param reports: reports waiting for a pull or a push.
    :param replies: replies waiting for a pull or a push.
    :param networks: the networks it may be used from (None: anywhere).
    """

    account: SimAccount
    balance: Decimal
    last_balance_call: float = -1.0
    last_pull: dict[str, float] = field(default_factory=dict)
    pending: deque[PendingReport] = field(default_factory=deque)
    reports: deque[Report] = field(default_factory=deque)
    replies: deque[Reply] = field(default_factory=deque)
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None = None

    def __post_init__(self) -> None:
        if self.account.allowed_ips is not None:
            self.networks = [
                ipaddress.ip_network(n, strict=False) for n in self.account.allowed_ips
            ]


def authenticate(
    accounts: dict[str, AccountState],
    form: dict[str, str],
    client_ip: str,
    pull: bool = False,
    balance: bool = False,
) -> AccountState | str:
    """The account a request may use, or the code that refuses it (pulls have their own
    codes).

    :param accounts: the gateway's accounts by corp_id.
    :param form: the request's fields.
    :param client_ip: the caller's address.
    :param pull: the request is a pull.
    :param balance: the request is a balance call (which may name its password ``pwd``).
    """
    corp_id = form.get("corp_id", "")
    # Every parameter table names corp_pwd; only the balance demo sends pwd.
    password = form.get("corp_pwd", form.get("pwd", "") if balance else "")
    state = accounts.get(corp_id)
    if state is None:
        return "-16" if pull else "106"
    if password != state.account.corp_pwd:
        return "-17" if pull else "107"
    if state.account.closed:
        return "-11" if pull else "101"
    if state.networks is not None:
        address = ipaddress.ip_address(client_ip)
        if not any(address in network for network in state.networks):
            return "108"
    return state
