"""Deferrable waits for delivery reports."""

from __future__ import annotations

from airflow.triggers.base import BaseTrigger

from airflow_provider_hbsms.triggers._base import ConditionPolling
from airflow_provider_hbsms.waiting import DeliveryCondition


class HbSmsDeliveryTrigger(ConditionPolling, BaseTrigger):
    """Fires when a campaign's messages reach a final status (or a delivered share).

    :param condition: ``DeliveryCondition`` fields.
    :param poll_interval: seconds between checks.
    :param max_consecutive_failures: failed checks in a row (passing gateway troubles) to ride
        out before the trigger reports an error with the last one.
    :param failures: failed checks already counted (by the sensor before it deferred).
    """

    condition_class = DeliveryCondition
    result_key = "summary"
