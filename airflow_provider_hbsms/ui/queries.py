"""What the campaign view and the report show, read from the store.

Every number on the page comes through ``campaign_funnel`` (the counts), ``campaign_timeline``
(the same counts over time) and the small look-ups below, so the source of the counts can
change (say, to counters kept as reports arrive) in one place.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from airflow_provider_hbsms.campaign.keys import campaign_key as make_campaign_key
from airflow_provider_hbsms.store.batch_states import ACCEPTED, MAY_HAVE_BEEN_SENT, REJECTED
from airflow_provider_hbsms.store.campaigns import CampaignRecord, CampaignRegister
from airflow_provider_hbsms.store.schema import opt_outs, replies, reports, send_batches
from airflow_provider_hbsms.store.schema import sent_messages as sent
from airflow_provider_hbsms.store.sent import expand_pending

if TYPE_CHECKING:
    from airflow_provider_hbsms.store import Store


@dataclass
class Funnel:
    """A campaign's counts, input rows to delivery, and the answers it got.

    :param campaign_key: the campaign.
    :param dag_id: the DAG that ran it ("" when not registered).
    :param task_id: the send task.
    :param run_id: the DAG run.
    :param map_index: the task's map index.
    :param rows: input rows read (None when the campaign was not registered).
    :param valid: rows that passed validation (None when not registered).
    :param invalid: rows that did not.
    :param left_out: valid rows left out (opted out, repeated numbers).
    :param planned: messages the campaign meant to send.
    :param sent: messages handed to the gateway (every claimed batch).
    :param accepted: messages the gateway accepted.
    :param refused: messages of batches the gateway refused.
    :param delivered: messages delivered (every segment).
    :param failed: messages that failed.
    :param pending: sent messages without a final status.
    :param failed_by_reason: failed messages by gateway code and description.
    :param batches: batches claimed, by ledger state.
    :param unknown_batches: numbers of batches whose outcome is unknown (or still pending).
    :param replies: replies attributed to the campaign.
    :param opt_outs: numbers that opted out by answering it.
    :param started_at: first batch claimed (or first validation).
    :param updated_at: latest change seen.
    """

    campaign_key: str
    dag_id: str = ""
    task_id: str = ""
    run_id: str = ""
    map_index: int = -1
    rows: int | None = None
    valid: int | None = None
    invalid: int = 0
    left_out: int = 0
    planned: int = 0
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    delivered: int = 0
    failed: int = 0
    pending: int = 0
    failed_by_reason: dict[str, int] = field(default_factory=dict)
    batches: dict[str, int] = field(default_factory=dict)
    unknown_batches: list[int] = field(default_factory=list)
    replies: int = 0
    opt_outs: int = 0
    started_at: datetime | None = None
    updated_at: datetime | None = None

    def stages(self) -> list[tuple[str, int]]:
        """The funnel's stages in order (rows and valid only when known)."""
        head = [] if self.rows is None else [("rows", self.rows), ("valid", self.valid or 0)]
        return [
            *head,
            ("sent", self.sent),
            ("accepted", self.accepted),
            ("delivered", self.delivered),
        ]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("started_at", "updated_at"):
            value = getattr(self, name)
            data[name] = value.isoformat() if value else None
        data["stages"] = self.stages()
        return data


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


def campaign_funnel(store: Store, campaign_key: str) -> Funnel:
    """The campaign's funnel: registered input counts, the ledger, the folded reports, replies
    and opt-outs. The one place the view's and the report's counts come from."""
    funnel = Funnel(campaign_key)
    record = CampaignRegister(store.engine).get(campaign_key)
    if record is not None:
        funnel.dag_id, funnel.task_id = record.dag_id, record.task_id
        funnel.run_id, funnel.map_index = record.run_id, record.map_index
        funnel.rows, funnel.valid, funnel.invalid = record.rows, record.valid, record.invalid
        funnel.left_out = record.opted_out + record.duplicates
        funnel.planned = record.messages
        funnel.started_at, funnel.updated_at = record.created_at, record.updated_at
    else:
        # Not registered (sent by an earlier version): a default key names its task instance.
        listing = _listing(campaign_key, None, datetime.now(UTC))
        funnel.dag_id, funnel.task_id = listing["dag_id"], listing["task_id"]
        funnel.run_id = listing["run_id"]
    batches = store.ledger.batches(campaign_key)
    for batch in batches.values():
        funnel.batches[batch.state] = funnel.batches.get(batch.state, 0) + 1
        funnel.sent += batch.submitted
        if batch.state == ACCEPTED:
            funnel.accepted += batch.accepted if batch.accepted is not None else batch.submitted
        elif batch.state == REJECTED:
            funnel.refused += batch.submitted
        elif batch.state in MAY_HAVE_BEEN_SENT:
            funnel.unknown_batches.append(batch.batch_no)
    funnel.unknown_batches.sort()
    if record is None:
        funnel.planned = funnel.sent
    summary = store.reports.summary(campaign_key)
    funnel.delivered, funnel.failed = summary.delivered, summary.failed
    funnel.pending = summary.pending
    funnel.failed_by_reason = dict(sorted(summary.failed_by_reason.items()))
    with store.engine.connect() as conn:
        funnel.replies = conn.execute(
            select(func.count()).select_from(replies).where(replies.c.campaign_key == campaign_key)
        ).scalar_one()
        funnel.opt_outs = conn.execute(
            select(func.count())
            .select_from(opt_outs.join(replies, replies.c.id == opt_outs.c.reply_id))
            .where(replies.c.campaign_key == campaign_key)
        ).scalar_one()
        first, last = conn.execute(
            select(func.min(send_batches.c.created_at), func.max(send_batches.c.updated_at)).where(
                send_batches.c.campaign_key == campaign_key
            )
        ).one()
    if first is not None:
        funnel.started_at = min(filter(None, [funnel.started_at, _aware(first)]))
        funnel.updated_at = max(filter(None, [funnel.updated_at, _aware(last)]))
    return funnel


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
            events["sent"].append((_aware(row.created_at), row.submitted))
            if row.state == ACCEPTED:
                accepted = row.accepted if row.accepted is not None else row.submitted
                events["accepted"].append((_aware(row.updated_at), accepted))
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
                events["failed"].append((_aware(row.first_at), 1))
            elif row.whole == 0 or row.parts >= row.segments:
                events["delivered"].append((_aware(row.last_at), 1))
        for (received_at,) in conn.execute(
            select(replies.c.received_at).where(replies.c.campaign_key == campaign_key)
        ):
            events["replies"].append((_aware(received_at), 1))
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


def recent_replies(store: Store, campaign_key: str, limit: int = 20) -> list[dict[str, Any]]:
    """The campaign's latest replies, newest first, and whether each opted out."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(
                replies.c.mobile,
                replies.c.content,
                replies.c.received_at,
                replies.c.msg_id,
                opt_outs.c.mobile.label("opted_out"),
            )
            .select_from(replies.outerjoin(opt_outs, opt_outs.c.reply_id == replies.c.id))
            .where(replies.c.campaign_key == campaign_key)
            .order_by(replies.c.id.desc())
            .limit(limit)
        ).all()
    return [
        {
            "mobile": row.mobile,
            "content": row.content,
            "received_at": _aware(row.received_at).isoformat(timespec="seconds"),
            "msg_id": row.msg_id,
            "opted_out": row.opted_out is not None,
        }
        for row in rows
    ]


def recent_campaigns(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """The latest campaigns, newest first: registered ones, and any the ledger alone knows."""
    listed: dict[str, dict[str, Any]] = {}
    for record in CampaignRegister(store.engine).recent(limit):
        listed[record.campaign_key] = _listing(record.campaign_key, record, record.updated_at)
    with store.engine.connect() as conn:
        latest = func.max(send_batches.c.updated_at).label("latest")
        for key, at in conn.execute(
            select(send_batches.c.campaign_key, latest)
            .group_by(send_batches.c.campaign_key)
            .order_by(latest.desc())
            .limit(limit)
        ):
            seen = listed.get(key)
            if seen is None:
                listed[key] = _listing(key, None, _aware(at))
            elif _aware(at) > seen["_at"]:
                seen["_at"] = _aware(at)
    ordered = sorted(listed.values(), key=lambda item: item["_at"], reverse=True)[:limit]
    for item in ordered:
        item["updated_at"] = item.pop("_at").isoformat(timespec="seconds")
    return ordered


def _listing(key: str, record: CampaignRecord | None, at: datetime) -> dict[str, Any]:
    if record is None:
        parts = key.split("/")
        dag_id, task_id, run_id = parts[:3] if len(parts) >= 3 else ("", "", "")
        return {
            "campaign_key": key,
            "dag_id": dag_id,
            "task_id": task_id,
            "run_id": run_id,
            "_at": at,
        }
    return {
        "campaign_key": key,
        "dag_id": record.dag_id,
        "task_id": record.task_id,
        "run_id": record.run_id,
        "_at": at,
    }


def campaign_of_task(
    store: Store, dag_id: str, run_id: str, task_id: str, map_index: int = -1
) -> str | None:
    """The campaign a send task instance ran: registered, or found under its default key."""
    for record in CampaignRegister(store.engine).of_run(dag_id, run_id):
        if record.task_id == task_id and record.map_index == map_index:
            return record.campaign_key
    key = make_campaign_key(dag_id, task_id, run_id, map_index)
    return key if store.ledger.batches(key) else None


def campaigns_of_run(store: Store, dag_id: str, run_id: str) -> list[str]:
    """The campaigns a DAG run sent: registered, and any under default keys of the run."""
    found = [r.campaign_key for r in CampaignRegister(store.engine).of_run(dag_id, run_id)]
    prefix = f"{dag_id}/"
    with store.engine.connect() as conn:
        keys = conn.execute(
            select(send_batches.c.campaign_key)
            .where(send_batches.c.campaign_key.startswith(prefix, autoescape=True))
            .distinct()
        ).scalars()
        for key in keys:
            rest = key[len(prefix) :].split("/", 1)
            if len(rest) == 2 and rest[1].split("/")[0] == run_id and key not in found:
                found.append(key)
    return found


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; the store writes UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
