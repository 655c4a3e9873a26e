"""What a campaign costs: a dry run's estimate, and the balance check before sending."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_hbsms.exceptions import HbSmsError
from airflow_provider_hbsms.store.batch_states import ACCEPTED

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_hbsms.campaign.plan import Plan
    from airflow_provider_hbsms.store.ledger import SendLedger

log = logging.getLogger(__name__)


class InfoLogger(Protocol):
    """Where a line is logged: a ``logging`` logger or an operator's ``self.log``."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...


def estimated_cost(plan: Plan, price_per_segment: Decimal) -> Decimal:
    """The cost of every billed segment of the plan."""
    return plan.segments * price_per_segment


def check_balance(
    key: str,
    plan: Plan,
    price_per_segment: Decimal,
    ledger: SendLedger,
    balance: Callable[[], Decimal],
    logger: InfoLogger = log,
) -> None:
    """Refuse to send when the balance does not cover what is left to send (batches an
    earlier try got accepted are paid for already).

    :param key: the campaign.
    :param plan: its plan.
    :param price_per_segment: the price of one billed segment, in the unit of the balance.
    :param ledger: the send ledger, for what earlier tries sent.
    :param balance: reads the account's balance.
    :param logger: where the balance and the estimate are logged.
    :raises HbSmsError: the balance is short; nothing was sent.
    """
    sent = ledger.batches(key)
    already = sum(b.submitted for b in sent.values() if b.state == ACCEPTED)
    share = 1 - already / plan.messages if plan.messages else 0
    needed = (plan.segments * price_per_segment * Decimal(str(share))).quantize(Decimal("0.01"))
    have = balance()
    logger.info("Balance %s, estimated cost of what is left to send %s", have, needed)
    if have < needed:
        raise HbSmsError(
            f"balance {have} does not cover the estimated cost {needed} "
            f"({plan.segments} billed segments x {price_per_segment}); nothing was sent"
        )
