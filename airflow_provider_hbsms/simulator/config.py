"""The simulator's configuration: accounts and gateway behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class SimAccount:
    """One gateway account.

    :param corp_id: account id.
    :param corp_pwd: account password.
    :param services: service codes that may send (others get ``109``).
    :param balance: starting balance, charged ``price_per_segment`` per billed segment.
    :param channel_number: the special service number (channel number + ext <= 20 digits).
    :param signature: signature the gateway appends (counted in billed segments).
    :param closed: the account is closed (``101`` / ``-11``).
    :param allowed_ips: IPs or networks allowed to call (``108`` otherwise); None: any.
    :param pull_enabled: pulls allowed (``-18`` otherwise).
    :param split_long_messages: long messages get one report per segment (sub_seq 1..k);
        otherwise one report with sub_seq 0.
    :param personalized_counts_segments: the personalized ``0#N`` counts segments of long
        messages (a channel that cannot take them whole); otherwise 1 per message.
    :param price_per_segment: what one billed segment costs.
    :param report_push_url: where to push reports (pull otherwise).
    :param reply_push_url: where to push replies (pull otherwise).
    """

    corp_id: str = "test"
    corp_pwd: str = "secret"
    services: tuple[str, ...] = ("svc",)
    balance: Decimal = Decimal("1000000")
    channel_number: str = ""
    signature: str = ""
    closed: bool = False
    allowed_ips: tuple[str, ...] | None = None
    pull_enabled: bool = True
    split_long_messages: bool = True
    personalized_counts_segments: bool = False
    price_per_segment: Decimal = Decimal("1")
    report_push_url: str | None = None
    reply_push_url: str | None = None


@dataclass
class SimulatorConfig:
    """The simulated gateway.

    :param accounts: the accounts it knows.
    :param host: interface to bind (loopback).
    :param port: port to bind; 0 picks a free one.
    :param report_delay: seconds between acceptance and the delivery report.
    :param failure_ratio: share of messages whose report is a failure (seeded, reproducible).
    :param seed: seed of the failure draw.
    :param latency_ms: delay added to every gateway request.
    :param push_timeout: seconds the pusher waits for the customer's ``0``.
    :param push_retries: re-pushes of a body after a failed push.
    :param push_interval: seconds between a failed push and its re-push.
    :param record_content: keep every message's text (turn off for very large benchmarks).
    """

    accounts: list[SimAccount] = field(default_factory=lambda: [SimAccount()])
    host: str = "127.0.0.1"
    port: int = 0
    report_delay: float = 0.0
    failure_ratio: float = 0.0
    seed: int = 0
    latency_ms: float = 0.0
    push_timeout: float = 20.0
    push_retries: int = 3
    push_interval: float = 2.0
    record_content: bool = True
