"""Reading the delivery counters: a campaign's summary in a few rows, whatever its size."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from airflow_provider_hbsms.store.delivery import DELIVERED, FAILED, DeliverySummary
from airflow_provider_hbsms.store.folds import SENT
from airflow_provider_hbsms.store.recount import ensure_counted_once
from airflow_provider_hbsms.store.schema import delivery_counts
from airflow_provider_hbsms.store.sent import expand_pending

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Engine


class DeliveryCounters:
    """Read the counters.

    :param engine: the store's engine.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def summary(self, campaign_keys: str | Sequence[str]) -> DeliverySummary:
        """The delivery summary of a campaign, or of several (a mapped send's shards, each its
        own campaign key) together, from the counters: a few rows whatever the size."""
        keys = [campaign_keys] if isinstance(campaign_keys, str) else list(campaign_keys)
        ensure_counted_once(self.engine)
        expand_pending(self.engine)  # messages claimed since, counted as they are indexed
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    delivery_counts.c.status,
                    delivery_counts.c.reason,
                    func.sum(delivery_counts.c.n),
                )
                .where(delivery_counts.c.campaign_key.in_(keys))
                .group_by(delivery_counts.c.status, delivery_counts.c.reason)
            ).all()
        total = delivered = failed = 0
        reasons: dict[str, int] = {}
        for status, reason, n in rows:
            n = int(n or 0)
            if status == SENT:
                total += n
            elif status == DELIVERED:
                delivered += n
            elif status == FAILED and n:
                failed += n
                reasons[reason] = reasons.get(reason, 0) + n
        return DeliverySummary(total, delivered, failed, total - delivered - failed, reasons)

