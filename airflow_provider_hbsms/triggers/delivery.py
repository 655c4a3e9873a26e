"""Deferrable waits for delivery reports."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_hbsms.waiting import DeliveryCondition

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class HbSmsDeliveryTrigger(BaseTrigger):
    """Fires when a campaign's messages reach a final status (or a delivered share).

    The check (store queries, pulls into the store) runs in a worker thread: the triggerer's
    event loop never blocks.

    :param condition: ``DeliveryCondition`` fields.
    :param poll_interval: seconds between checks.
    """

    def __init__(self, condition: dict[str, Any], poll_interval: float = 30.0) -> None:
        super().__init__()
        self.condition = condition
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"condition": self.condition, "poll_interval": self.poll_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        condition = DeliveryCondition(**self.condition)
        while True:
            try:
                summary = await asyncio.to_thread(condition.check)
            except Exception as exc:  # reported to the task, which fails with it
                yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}"})
                return
            if summary is not None:
                yield TriggerEvent({"status": "success", "summary": summary})
                return
            await asyncio.sleep(self.poll_interval)
