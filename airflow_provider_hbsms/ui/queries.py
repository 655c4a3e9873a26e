"""The campaign view's look-ups in the store: recent campaigns and replies, and the campaigns
a task instance or a DAG run sent. The counts themselves come from ``funnel.py`` and
``timeline.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from airflow_provider_hbsms.campaign.keys import campaign_key as make_campaign_key
from airflow_provider_hbsms.store.campaigns import CampaignRecord, CampaignRegister
from airflow_provider_hbsms.store.schema import opt_outs, replies, send_batches
from airflow_provider_hbsms.store.times import as_utc

if TYPE_CHECKING:
    from datetime import datetime

    from airflow_provider_hbsms.store import Store


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
            "received_at": as_utc(row.received_at).isoformat(timespec="seconds"),
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
                listed[key] = _listing(key, None, as_utc(at))
            elif as_utc(at) > seen["_at"]:
                seen["_at"] = as_utc(at)
    ordered = sorted(listed.values(), key=lambda item: item["_at"], reverse=True)[:limit]
    for item in ordered:
        item["updated_at"] = item.pop("_at").isoformat(timespec="seconds")
    return ordered


def _listing(key: str, record: CampaignRecord | None, at: datetime) -> dict[str, Any]:
    if record is None:
        dag_id, task_id, run_id = names_in_key(key)
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


def names_in_key(key: str) -> tuple[str, str, str]:
    """(dag_id, task_id, run_id) as a default campaign key (``dag/task/run[/map index]``) names
    them; empty for a key of another form."""
    parts = key.split("/")
    return (parts[0], parts[1], parts[2]) if len(parts) >= 3 else ("", "", "")
