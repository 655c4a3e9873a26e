"""What the provider's triggers share: a serializable condition polled off the event loop, by
one ``run`` for all of them."""

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
    #: A wait fires once and reports an error as an event; an event trigger fires on every
    #: new result and fails with the error.
    fires_once: ClassVar[bool] = True

    def __init__(
        self,
        condition: dict[str, Any],
        poll_interval: float = 30.0,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        failures: int = 0,
    ) -> None:
        super().__init__()
        self.condition_class(**condition)  # a bad field or ``kinds`` fails where it is written
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

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Check every ``poll_interval`` seconds; an event for each result (the first only,
        when ``fires_once``). The checks run in a worker thread so the triggerer's event loop
        never blocks."""
        condition = self.condition_class(**self.condition)
        await asyncio.to_thread(self._start, condition)
        budget = FailureBudget(self.max_consecutive_failures, self.failures)
        while True:
            try:
                _, result = await self.checked(lambda: self._check(condition), budget)
            except Exception as exc:
                if not self.fires_once:
                    raise
                # Reported to the task, which fails with it.
                yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}"})
                return
            if result is not None:
                yield self._event(result)
                if self.fires_once:
                    return
                await asyncio.to_thread(self._fired, condition, result)
            await asyncio.sleep(self.poll_interval)

    def _start(self, condition: Any) -> None:
        """Before the first check (in a worker thread)."""

    def _check(self, condition: Any) -> Any:
        """The condition's result, or None while it does not hold (in a worker thread)."""
        return condition.check()

    def _event(self, result: Any) -> TriggerEvent:
        return TriggerEvent({"status": "success", self.result_key: result})

    def _fired(self, condition: Any, result: Any) -> None:
        """After an event of a trigger that goes on (in a worker thread)."""
