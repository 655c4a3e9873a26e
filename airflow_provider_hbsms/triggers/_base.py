"""What the provider's triggers share: a serializable condition polled off the event loop."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.triggers.base import TriggerEvent

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class ConditionPolling:
    """Mixin for triggers over a ``waiting`` condition (``DeliveryCondition``, ...).

    :param condition: the condition's fields (its ``serialize()``).
    :param poll_interval: seconds between checks.
    """

    condition_class: ClassVar[type]
    #: The key under which a success event carries the condition's result.
    result_key: ClassVar[str] = "result"

    def __init__(self, condition: dict[str, Any], poll_interval: float = 30.0) -> None:
        super().__init__()
        self.condition = condition
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"condition": self.condition, "poll_interval": self.poll_interval},
        )

    async def poll_until_met(self) -> AsyncIterator[TriggerEvent]:
        """One event when the condition holds (or fails); the check runs in a worker thread so
        the triggerer's event loop never blocks."""
        condition = self.condition_class(**self.condition)
        while True:
            try:
                result = await asyncio.to_thread(condition.check)
            except Exception as exc:  # reported to the task, which fails with it
                yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}"})
                return
            if result is not None:
                yield TriggerEvent({"status": "success", self.result_key: result})
                return
            await asyncio.sleep(self.poll_interval)
