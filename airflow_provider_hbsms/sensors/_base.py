"""What the two sensors share: poke or defer on a condition."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf
from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_hbsms.exceptions import HbSmsError
from airflow_provider_hbsms.params import (
    DEFAULT_HBSMS_CONN_ID,
    DEFAULT_STORE_CONN_ID,
    GatewayAccess,
)
from airflow_provider_hbsms.waiting import (
    DEFAULT_MAX_CONSECUTIVE_FAILURES,
    FailureBudget,
    pull_kinds,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger


class _ConditionSensor(GatewayAccess, BaseSensorOperator):
    """Pokes ``self._condition(context).check()``, or defers to ``self._trigger``.

    A check that fails on a passing gateway trouble is tried again at the next poke (or by the
    trigger); the sensor fails once more than ``max_consecutive_failures`` checks in a row
    failed, with the last error. In ``reschedule`` mode the count is kept in the store between
    tries.
    """

    _result_key = "summary"
    #: The queue the sensor's condition reads (what ``kinds`` must include).
    _wanted: str

    def __init__(
        self,
        *,
        hbsms_conn_id: str = DEFAULT_HBSMS_CONN_ID,
        store_conn_id: str | None = DEFAULT_STORE_CONN_ID,
        store_url: str | None = None,
        collect: bool = True,
        kinds: str | Sequence[str] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_consecutive_failures = max_consecutive_failures
        FailureBudget(max_consecutive_failures)  # refuse a negative limit at parse time
        self._set_access(hbsms_conn_id, store_conn_id, store_url)
        self.collect = collect
        # Checked when the DAG is parsed, not at the first poke.
        self.kinds = pull_kinds(kinds, self._wanted, collect)
        self.deferrable = deferrable

    def _access(self) -> dict[str, Any]:
        return {
            "hbsms_conn_id": self.hbsms_conn_id,
            "store_url": self.store_url,
            "store_conn_id": self.store_conn_id,
            "collect": self.collect,
            "kinds": self.kinds,
        }

    def _condition(self, context: Context) -> Any:
        raise NotImplementedError

    def _trigger(self, condition: Any) -> BaseTrigger:
        raise NotImplementedError

    def _budget_key(self, context: Context) -> str:
        ti = context.get("ti")
        run_id = context.get("run_id") or getattr(ti, "run_id", "")
        map_index = getattr(ti, "map_index", -1)
        where = f"{self.dag_id}\n{self.task_id}\n{run_id}\n{map_index}"
        return f"sensor-failures:{hashlib.sha256(where.encode()).hexdigest()[:40]}"

    def _budget(self, context: Context, condition: Any) -> FailureBudget:
        """The failure count: on this instance, or in the store when each poke is a new try."""
        budget: FailureBudget | None = getattr(self, "_failure_budget", None)
        if budget is None:
            budget = FailureBudget(self.max_consecutive_failures)
            if self.mode == "reschedule":
                budget.failures = condition.store.cursors.get(self._budget_key(context)) or 0
            self._failure_budget = budget
        return budget

    def _check(self, context: Context, condition: Any) -> tuple[bool, Any]:
        """(checked, result): a transient failure within the budget is (False, None)."""
        budget = self._budget(context, condition)
        before = budget.failures
        try:
            result = condition.check()
        except Exception as exc:
            try:
                budget.absorb(exc)  # raises when not transient or past the limit
            except Exception:
                if self.mode == "reschedule":  # a retry of the task starts a new count
                    condition.store.cursors.set(self._budget_key(context), 0)
                raise
            checked, result = False, None
        else:
            budget.succeeded()
            checked = True
        if self.mode == "reschedule" and budget.failures != before:
            condition.store.cursors.set(self._budget_key(context), budget.failures)
        return checked, result

    def poke(self, context: Context) -> PokeReturnValue:
        _, result = self._check(context, self._condition(context))
        return PokeReturnValue(is_done=result is not None, xcom_value=result)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        condition = self._condition(context)
        _, result = self._check(context, condition)
        if result is not None:
            return result
        self.defer(
            trigger=self._trigger(condition),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )
        return None

    def _trigger_options(self, context: Context | None = None) -> dict[str, Any]:
        """What the trigger needs to carry the failure count on."""
        budget: FailureBudget | None = getattr(self, "_failure_budget", None)
        return {
            "poll_interval": self.poke_interval,
            "max_consecutive_failures": self.max_consecutive_failures,
            "failures": budget.failures if budget is not None else 0,
        }

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Back from the trigger: its result, or its error."""
        if event.get("status") == "success":
            return event[self._result_key]
        raise HbSmsError(f"{self.task_id}: waiting failed: {event.get('message')}")
