"""Deferrable waits for delivery reports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_hbsms.triggers._base import ConditionPolling
from airflow_provider_hbsms.waiting import DeliveryCondition

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class HbSmsDeliveryTrigger(ConditionPolling, BaseTrigger):
    """Fires when a campaign's messages reach a final status (or a delivered share).

    :param condition: ``DeliveryCondition`` fields.
    :param poll_interval: seconds between checks.
    """

    condition_class = DeliveryCondition
    result_key = "summary"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        async for event in self.poll_until_met():
            yield event
