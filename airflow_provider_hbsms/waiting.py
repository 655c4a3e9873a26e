"""What sensors and triggers wait for, as plain serializable conditions.

A condition's ``check()`` is blocking (store queries, and pulls when ``collect`` is on); the
sensors call it from ``poke`` and the triggers from a worker thread, so the triggerer's event
loop never blocks. A pull's result is committed to the store before anything reads it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_hbsms.store import Store, open_store

log = logging.getLogger(__name__)


def campaign_key_of(value: Any) -> str | None:
    """A campaign key from a key or from a send operator's result dict."""
    if isinstance(value, dict):
        return value.get("campaign_key")
    return str(value) if value else None


@dataclass
class _StoreAccess:
    hbsms_conn_id: str = "hbsms_default"
    store_url: str | None = None
    store_conn_id: str | None = None
    collect: bool = True

    def store(self) -> Store:
        return open_store(url=self.store_url, conn_id=self.store_conn_id)

    def pull(self, store: Store, reports: bool) -> None:
        """Drain the gateway into the store first, when this condition collects."""
        if not self.collect:
            return
        from airflow_provider_hbsms.collector import Collector
        from airflow_provider_hbsms.hooks.hbsms import HbSmsHook

        collector = Collector(HbSmsHook(self.hbsms_conn_id).client, store)
        if reports:
            collector.drain_reports()
        else:
            collector.drain_replies()

    def serialize(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DeliveryCondition(_StoreAccess):
    """A campaign's (or some msg_ids') messages reached a final status or a delivered share.

    :param campaign_key: the campaign.
    :param msg_ids: or these message ids.
    :param min_delivered_fraction: done once this share is delivered (else: all final).
    """

    campaign_key: str | None = None
    msg_ids: list[str] | None = None
    min_delivered_fraction: float | None = None

    def __post_init__(self) -> None:
        if not self.campaign_key and not self.msg_ids:
            raise ValueError("give campaign_key (or a send result) or msg_ids")

    def check(self) -> dict[str, Any] | None:
        """The delivery summary once the condition holds, else None."""
        store = self.store()
        self.pull(store, reports=True)
        summary = (
            store.counters.summary(self.campaign_key)  # a few rows, whatever the campaign's size
            if self.campaign_key and self.msg_ids is None
            else store.reports.summary(self.campaign_key, self.msg_ids)
        )
        done = summary.is_final or summary.total == 0
        if self.min_delivered_fraction is not None and summary.total:
            done = done or summary.delivered_fraction >= self.min_delivered_fraction
        log.info(
            "Delivery of %s: %d delivered, %d failed, %d pending of %d",
            self.campaign_key or f"{len(self.msg_ids or [])} msg_ids",
            summary.delivered,
            summary.failed,
            summary.pending,
            summary.total,
        )
        return summary.as_dict() if done else None


@dataclass
class ReplyCondition(_StoreAccess):
    """A reply arrived from given numbers / to an ext / matching a pattern / for a campaign.

    :param mobiles: only from these numbers.
    :param ext: only to this ext.
    :param pattern: a regular expression the content must contain (case-insensitive).
    :param campaign_key: only replies attributed to this campaign.
    :param since: only replies stored at or after this time (ISO 8601).
    :param min_replies: how many matching replies to wait for.
    """

    mobiles: list[str] | None = None
    ext: str | None = None
    pattern: str | None = None
    campaign_key: str | None = None
    since: str | None = None
    min_replies: int = 1
    after_id: int = 0
    limit: int = field(default=1000)

    def matches(self, store: Store) -> list[dict[str, Any]]:
        found = store.replies.find(
            mobiles=self.mobiles,
            ext=self.ext,
            pattern=self.pattern,
            campaign_key=self.campaign_key,
            after_id=self.after_id,
            since=datetime.fromisoformat(self.since) if self.since else None,
            limit=self.limit,
        )
        return [r.as_dict() for r in found]

    def check(self) -> list[dict[str, Any]] | None:
        """The matching replies once there are enough, else None."""
        store = self.store()
        self.pull(store, reports=False)
        found = self.matches(store)
        return found if len(found) >= self.min_replies else None
