"""Wait for a campaign's delivery reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_hbsms.params import GATEWAY_TEMPLATE_FIELDS
from airflow_provider_hbsms.sensors._base import _ConditionSensor
from airflow_provider_hbsms.triggers.delivery import HbSmsDeliveryTrigger
from airflow_provider_hbsms.waiting import DeliveryCondition, campaign_keys_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context


class HbSmsDeliveryReportSensor(_ConditionSensor):
    """Wait until a campaign's messages reach a final status, or a delivered share.

    Returns (and pushes to XCom) the delivery summary: total, delivered, failed, pending,
    failed_by_reason, delivered_fraction. Long messages count as delivered only once every
    segment is.

    :param campaign_key: the campaign's key, or the send operator's result dict (an XComArg
        works); or several, counted as one campaign: a mapped send's results, or
        ``combine_shard_results`` of them (a sharded campaign). (templated)
    :param msg_ids: or wait for these message ids. (templated)
    :param min_delivered_fraction: done once this share is delivered (default: wait until
        every message has a final status).
    :param collect: pull reports from the gateway into the store on every check (pull mode);
        turn off when reports arrive through the push receiver.
    :param kinds: the queues each check drains when collecting: ``reports`` (default) or
        ``["reports", "replies"]`` to keep replies flowing into the store meanwhile.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param max_consecutive_failures: failed checks in a row (gateway unreachable, a lost or
        unreadable reply) to ride out, retrying at the next check, before failing with the
        last error (default 10; 0 fails on the first). Errors no retry can cure (a wrong
        password, pulling not enabled) fail at once.
    """

    template_fields: Sequence[str] = ("campaign_key", "msg_ids", *GATEWAY_TEMPLATE_FIELDS)
    _wanted = DeliveryCondition.wanted

    def __init__(
        self,
        *,
        campaign_key: Any = None,
        msg_ids: list[str] | None = None,
        min_delivered_fraction: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.campaign_key = campaign_key
        self.msg_ids = msg_ids
        self.min_delivered_fraction = min_delivered_fraction

    def _condition(self, context: Context) -> DeliveryCondition:
        return DeliveryCondition(
            **self._access(),
            campaign_key=campaign_keys_of(self.campaign_key),
            msg_ids=list(self.msg_ids) if self.msg_ids else None,
            min_delivered_fraction=self.min_delivered_fraction,
        )

    def _trigger(self, condition: DeliveryCondition) -> HbSmsDeliveryTrigger:
        return HbSmsDeliveryTrigger(condition.serialize(), **self._trigger_options())
