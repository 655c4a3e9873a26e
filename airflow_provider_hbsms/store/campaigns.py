"""The campaign register: which task instance ran each campaign, and what its input held.

The ledger knows batches and the reports know messages, but not how many input rows a
campaign read, how many were valid, or which DAG run it belongs to. The send operators record
that here after validating (``record``), so the campaign view and the report can show the
whole funnel and find a run's campaigns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, select, update

from airflow_provider_hbsms.store.schema import metadata
from airflow_provider_hbsms.store.times import as_utc
from airflow_provider_hbsms.store.upsert import insert_ignore

if TYPE_CHECKING:
    from sqlalchemy import Engine

#: One row per campaign, replaced by each try's validation.
campaigns = Table(
    "hbsms_campaigns",
    metadata,
    Column("campaign_key", String(200), primary_key=True),
    Column("dag_id", String(250), nullable=False, default=""),
    Column("task_id", String(250), nullable=False, default=""),
    Column("run_id", String(250), nullable=False, default=""),
    Column("map_index", Integer, nullable=False, default=-1),
    Column("kind", String(16), nullable=False),  # bulk | personalized
    Column("rows", Integer, nullable=False, default=0),
    Column("valid", Integer, nullable=False, default=0),
    Column("invalid", Integer, nullable=False, default=0),
    Column("opted_out", Integer, nullable=False, default=0),
    Column("duplicates", Integer, nullable=False, default=0),
    Column("messages", Integer, nullable=False, default=0),
    Column("segments", Integer, nullable=False, default=0),
    Column("batches", Integer, nullable=False, default=0),
    Column("dry_run", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_hbsms_campaigns_run", "dag_id", "run_id"),
    Index("ix_hbsms_campaigns_updated", "updated_at"),
)

_PLAN_FIELDS = (
    "rows",
    "valid",
    "invalid",
    "opted_out",
    "duplicates",
    "messages",
    "segments",
    "batches",
)
_created: set[str] = set()


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    """A registered campaign.

    :param campaign_key: its key.
    :param dag_id: the DAG that ran it.
    :param task_id: the send task.
    :param run_id: the DAG run.
    :param map_index: the task's map index (-1 unmapped).
    :param kind: ``bulk`` or ``personalized``.
    :param rows: input rows read.
    :param valid: rows that passed validation.
    :param invalid: rows that did not.
    :param opted_out: valid rows left out as opted out.
    :param duplicates: valid rows left out as repeated numbers.
    :param messages: messages planned.
    :param segments: billed segments planned.
    :param batches: batches planned.
    :param dry_run: validated only, nothing sent.
    :param created_at: first validation.
    :param updated_at: latest validation.
    """

    campaign_key: str
    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    kind: str
    rows: int
    valid: int
    invalid: int
    opted_out: int
    duplicates: int
    messages: int
    segments: int
    batches: int
    dry_run: bool
    created_at: datetime
    updated_at: datetime


class CampaignRegister:
    """Record and look up campaigns (``hbsms_campaigns``; created on first use).

    :param engine: the store's engine.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        url = engine.url.render_as_string(hide_password=False)
        if url not in _created:
            # The table may be newer than the store's database.
            campaigns.create(engine, checkfirst=True)
            _created.add(url)

    def record(
        self,
        campaign_key: str,
        *,
        kind: str,
        dag_id: str = "",
        task_id: str = "",
        run_id: str = "",
        map_index: int = -1,
        dry_run: bool = False,
        **plan: int,
    ) -> None:
        """Register a campaign, or replace its counts with this try's.

        :param plan: the validation counts (``rows``, ``valid``, ``invalid``, ``opted_out``,
            ``duplicates``, ``messages``, ``segments``, ``batches``).
        """
        unknown = set(plan) - set(_PLAN_FIELDS)
        if unknown:
            raise TypeError(f"unknown campaign count(s): {sorted(unknown)}")
        now = datetime.now(UTC)
        counts = {name: int(plan.get(name, 0)) for name in _PLAN_FIELDS}
        values: dict[str, Any] = {
            "dag_id": dag_id,
            "task_id": task_id,
            "run_id": run_id,
            "map_index": map_index,
            "kind": kind,
            "dry_run": int(dry_run),
            "updated_at": now,
            **counts,
        }
        with self.engine.begin() as conn:
            row = {"campaign_key": campaign_key, "created_at": now, **values}
            if not insert_ignore(conn, campaigns, [row], ["campaign_key"]):
                conn.execute(
                    update(campaigns).where(campaigns.c.campaign_key == campaign_key).values(values)
                )

    def get(self, campaign_key: str) -> CampaignRecord | None:
        """The campaign, if registered."""
        found = self._select(select(campaigns).where(campaigns.c.campaign_key == campaign_key))
        return found[0] if found else None

    def of_run(self, dag_id: str, run_id: str) -> list[CampaignRecord]:
        """The campaigns of a DAG run, by task and map index."""
        return self._select(
            select(campaigns)
            .where(campaigns.c.dag_id == dag_id, campaigns.c.run_id == run_id)
            .order_by(campaigns.c.task_id, campaigns.c.map_index)
        )

    def recent(self, limit: int = 20) -> list[CampaignRecord]:
        """The latest campaigns first."""
        return self._select(select(campaigns).order_by(campaigns.c.updated_at.desc()).limit(limit))

    def _select(self, statement: Any) -> list[CampaignRecord]:
        with self.engine.connect() as conn:
            return [
                CampaignRecord(
                    **{
                        **row._mapping,
                        "dry_run": bool(row.dry_run),
                        "created_at": as_utc(row.created_at),
                        "updated_at": as_utc(row.updated_at),
                    }
                )
                for row in conn.execute(statement)
            ]
