"""What the provider's triggers share: a serializable condition polled off the event loop."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.triggers.base import TriggerEvent

from airflow_provider_hbsms.waiting import DEFAULT_MAX_CONSECUTIVE_FAILURES, FailureBudget

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

log = logging.getLogger(__name__)


class ConditionPolling:
    """Mixin for triggers over a ``waiting`` condition (``DeliveryCondition``, ...).

    :param condition: the condition's fields (its ``serialize()``).
    :param poll_interval: seconds between checks.
    :param max_consecutive_failures: failed checks in a row (passing gateway troubles) to ride
        out before the trigger reports an error with the last one.
    :param failures: failed checks already counted (by the sensor before it deferred).
    """

    condition_class: ClassVar[type]
    #: The key under which a success event carries the condition's result.
    result_key: ClassVar[str] = "result"

    def __init__(
        self,
        condition: dict[str, Any],
        poll_interval: float = 30.0,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        failures: int = 0,
    ) -> None:
        super().__init__()
        self.condition = condition
        self.poll_interval = poll_interval
        self.max_consecutive_failures = max_consecutive_failures
        self.failures = failures

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "condition": self.condition,
                "poll_interval": self.poll_interval,
                "max_consecutive_failures": self.max_consecutive_failures,
                "failures": self.failures,
            },
        )

    async def checked(self, check: Callable[[], Any], budget: FailureBudget) -> tuple[bool, Any]:
        """Run ``check`` in a worker thread: (True, its result), or (False, None) after a
        failure the budget rides out; raises when it does not."""
        try:
            result = await asyncio.to_thread(check)
        except Exception as exc:
            budget.absorb(exc)
            self.failures = budget.failures
            return False, None
        budget.succeeded()
        self.failures = 0
        return True, result

    async def poll_until_met(self) -> AsyncIterator[TriggerEvent]:
        """One event when the condition holds (or fails); the check runs in a worker thread so
        the triggerer's event loop never blocks."""
        condition = self.condition_class(**self.condition)
        budget = FailureBudget(self.max_consecutive_failures, self.failures)
        while True:
            try:
                _, result = await self.checked(condition.check, budget)
            except Exception as exc:  # reported to the task, which fails with it
                yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}"})
                return
            if result is not None:
                yield TriggerEvent({"status": "success", self.result_key: result})
                return
            await asyncio.sleep(self.poll_interval)
