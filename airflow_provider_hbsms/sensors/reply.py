"""Wait for replies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_hbsms.params import GATEWAY_TEMPLATE_FIELDS
from airflow_provider_hbsms.sensors._base import _ConditionSensor
from airflow_provider_hbsms.triggers.reply import HbSmsReplyTrigger
from airflow_provider_hbsms.waiting import ReplyCondition, campaign_key_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context


class HbSmsReplySensor(_ConditionSensor):
    """Wait for a reply from given numbers, to an ext, matching a pattern, or for a campaign.

    Returns (and pushes to XCom) the matching replies (id, mobile, ext, content, reply_time,
    campaign_key, msg_id).

    :param mobiles: only replies from these numbers. (templated)
    :param ext: only replies to this ext. (templated)
    :param pattern: a regular expression the content must contain, e.g. ``"^(Y|是)"``.
    :param campaign_key: only replies attributed to this campaign (a key or the send
        operator's result dict). (templated)
    :param since: only replies stored at or after this time; default: the DAG run's start.
    :param min_replies: how many matching replies to wait for.
    :param collect: pull replies from the gateway into the store on every check.
    :param kinds: the queues each check drains when collecting: ``replies`` (default) or
        ``["reports", "replies"]``.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param max_consecutive_failures: failed checks in a row (gateway unreachable, a lost or
        unreadable reply) to ride out, retrying at the next check, before failing with the
        last error (default 10; 0 fails on the first). Errors no retry can cure (a wrong
        password, pulling not enabled) fail at once.
    """

    template_fields: Sequence[str] = ("mobiles", "ext", "campaign_key", *GATEWAY_TEMPLATE_FIELDS)
    _result_key = "replies"
    _wanted = ReplyCondition.wanted

    def __init__(
        self,
        *,
        mobiles: list[str] | None = None,
        ext: str | None = None,
        pattern: str | None = None,
        campaign_key: Any = None,
        since: datetime | None = None,
        min_replies: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mobiles = mobiles
        self.ext = ext
        self.pattern = pattern
        self.campaign_key = campaign_key
        self.since = since
        self.min_replies = min_replies

    def _since(self, context: Context) -> datetime:
        if self.since is not None:
            return self.since
        dag_run = context.get("dag_run")
        started = getattr(dag_run, "start_date", None)
        return started or datetime.now(UTC)

    def _condition(self, context: Context) -> ReplyCondition:
        return ReplyCondition(
            **self._access(),
            mobiles=list(self.mobiles) if self.mobiles else None,
            ext=self.ext,
            pattern=self.pattern,
            campaign_key=campaign_key_of(self.campaign_key),
            since=self._since(context).isoformat(),
            min_replies=self.min_replies,
        )

    def _trigger(self, condition: ReplyCondition) -> HbSmsReplyTrigger:
        return HbSmsReplyTrigger(condition.serialize(), **self._trigger_options())
