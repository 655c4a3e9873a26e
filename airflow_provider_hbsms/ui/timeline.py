"""A campaign's counts over time, for the campaign view's chart: the funnel's counts
(``funnel.py``) as they grew."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from airflow_provider_hbsms.store.batch_states import ACCEPTED
from airflow_provider_hbsms.store.schema import replies, reports, send_batches
from airflow_provider_hbsms.store.schema import sent_messages as sent
from airflow_provider_hbsms.store.sent import expand_pending
from airflow_provider_hbsms.store.times import as_utc

if TYPE_CHECKING:
    from airflow_provider_hbsms.store import Store


@dataclass
class Timeline:
    """Cumulative counts at points in time (UTC ISO strings), for the chart.

    :param times: the points.
    :param labels: the points as the chart's axis shows them (``+12s`` for short spans,
        ``08:30:05`` within a day, ``12-01 08:30`` beyond).
    :param series: each count's values at those points (sent, accepted, delivered, failed,
        replies).
    """

    times: list[str]
    labels: list[str]
    series: dict[str, list[int]]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def campaign_timeline(store: Store, campaign_key: str, points: int = 40) -> Timeline:
    """Sent, accepted, delivered, failed and replies, cumulative, at ``points`` evenly spaced
    times from the first batch to the latest event. A message counts as delivered when its
    last segment's report arrived, as failed when its first failing report did."""
    events: dict[str, list[tuple[datetime, int]]] = {
        "sent": [],
        "accepted": [],
        "delivered": [],
        "failed": [],
        "replies": [],
    }
    expand_pending(store.engine)
    with store.engine.connect() as conn:
        for row in conn.execute(
            select(
                send_batches.c.created_at,
                send_batches.c.updated_at,
                send_batches.c.state,
                send_batches.c.submitted,
                send_batches.c.accepted,
            ).where(send_batches.c.campaign_key == campaign_key)
        ):
            events["sent"].append((as_utc(row.created_at), row.submitted))
            if row.state == ACCEPTED:
                accepted = row.accepted if row.accepted is not None else row.submitted
                events["accepted"].append((as_utc(row.updated_at), accepted))
        folded = (
            select(
                sent.c.segments,
                func.sum(1 - reports.c.delivered).label("failed_parts"),
                func.count(func.distinct(reports.c.sub_seq)).label("parts"),
                func.max(reports.c.sub_seq).label("whole"),
                func.max(reports.c.received_at).label("last_at"),
                func.min(reports.c.received_at).label("first_at"),
            )
            .select_from(
                sent.join(
                    reports,
                    and_(reports.c.msg_id == sent.c.msg_id, reports.c.mobile == sent.c.mobile),
                )
            )
            .where(sent.c.campaign_key == campaign_key)
            .group_by(sent.c.msg_id, sent.c.mobile, sent.c.segments)
        )
        for row in conn.execute(folded):
            if row.failed_parts:
                events["failed"].append((as_utc(row.first_at), 1))
            elif row.whole == 0 or row.parts >= row.segments:
                events["delivered"].append((as_utc(row.last_at), 1))
        for (received_at,) in conn.execute(
            select(replies.c.received_at).where(replies.c.campaign_key == campaign_key)
        ):
            events["replies"].append((as_utc(received_at), 1))
    stamps = [at for series in events.values() for at, _ in series]
    if not stamps:
        return Timeline([], [], {name: [] for name in events})
    start, end = min(stamps), max(stamps)
    span = (end - start).total_seconds()
    steps = max(points - 1, 1) if span > 0 else 1
    times = [
        datetime.fromtimestamp(start.timestamp() + span * i / steps, UTC) for i in range(steps + 1)
    ]
    series = {name: _cumulative(values, times) for name, values in events.items()}
    return Timeline([t.isoformat(timespec="seconds") for t in times], _labels(times, span), series)


def _labels(times: list[datetime], span: float) -> list[str]:
    """Axis labels: seconds from the start when the span is short, else clock times (UTC)."""
    if span < 120:
        return [f"+{(t - times[0]).total_seconds():.1f}s" for t in times]
    if span < 86400:
        return [f"{t:%H:%M:%S}" for t in times]
    return [f"{t:%m-%d %H:%M}" for t in times]


def _cumulative(events: list[tuple[datetime, int]], times: list[datetime]) -> list[int]:
    """How much of ``events`` happened by each of ``times``."""
    events = sorted(events)
    stamps = [at for at, _ in events]
    totals = [0]
    for _, amount in events:
        totals.append(totals[-1] + amount)
    return [totals[bisect_right(stamps, t)] for t in times]
