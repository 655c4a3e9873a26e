"""A campaign's funnel: the counts the campaign view and the report show, input rows to
delivery, and the answers it got.

Every count on the page comes through ``campaign_funnel`` (``timeline.py`` gives the same counts
over time), so the source of the counts can change (say, to counters kept as reports arrive)
in one place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from airflow_provider_hbsms.store.batch_states import ACCEPTED, MAY_HAVE_BEEN_SENT, REJECTED
from airflow_provider_hbsms.store.campaigns import CampaignRegister
from airflow_provider_hbsms.store.schema import opt_outs, replies, send_batches
from airflow_provider_hbsms.store.times import as_utc
from airflow_provider_hbsms.ui.queries import names_in_key

if TYPE_CHECKING:
    from datetime import datetime

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
        funnel.dag_id, funnel.task_id, funnel.run_id = names_in_key(campaign_key)
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
        funnel.started_at = min(filter(None, [funnel.started_at, as_utc(first)]))
        funnel.updated_at = max(filter(None, [funnel.updated_at, as_utc(last)]))
    return funnel
