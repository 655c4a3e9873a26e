"""What the two sensors share: poke or defer on a condition."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf
from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_hbsms.protocol.errors import HbSmsError

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger


class _ConditionSensor(BaseSensorOperator):
    """Pokes ``self._condition(context).check()``, or defers to ``self._trigger``."""

    _result_key = "summary"

    def __init__(
        self,
        *,
        hbsms_conn_id: str = "hbsms_default",
        store_conn_id: str | None = None,
        store_url: str | None = None,
        collect: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.hbsms_conn_id = hbsms_conn_id
        self.store_conn_id = store_conn_id
        self.store_url = store_url
        self.collect = collect
        self.deferrable = deferrable

    def _access(self) -> dict[str, Any]:
        return {
            "hbsms_conn_id": self.hbsms_conn_id,
            "store_url": self.store_url,
            "store_conn_id": self.store_conn_id,
            "collect": self.collect,
        }

    def _condition(self, context: Context) -> Any:
        raise NotImplementedError

    def _trigger(self, condition: Any) -> BaseTrigger:
        raise NotImplementedError

    def poke(self, context: Context) -> PokeReturnValue:
        result = self._condition(context).check()
        return PokeReturnValue(is_done=result is not None, xcom_value=result)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        condition = self._condition(context)
        result = condition.check()
        if result is not None:
            return result
        self.defer(
            trigger=self._trigger(condition),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )
        return None

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Back from the trigger: its result, or its error."""
        if event.get("status") == "success":
            return event[self._result_key]
        raise HbSmsError(f"{self.task_id}: waiting failed: {event.get('message')}")
