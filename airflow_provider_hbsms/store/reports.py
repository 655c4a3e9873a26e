"""Delivery reports: stored once each, folded into per-message statuses and summaries."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, literal, select

from airflow_provider_hbsms.store.chunks import in_chunks
from airflow_provider_hbsms.store.delivery import (
    DELIVERED,
    FAILED,
    PENDING,
    DeliverySummary,
    MessageStatus,
)
from airflow_provider_hbsms.store.report_writes import ReportWriter
from airflow_provider_hbsms.store.schema import reports, sent_messages
from airflow_provider_hbsms.store.sent import expand_pending

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection, Engine, Select




def _filter(
    statement: Select[Any], campaign_key: str | Sequence[str] | None, msg_ids: Sequence[str] | None
) -> Any:
    if isinstance(campaign_key, str):
        statement = statement.where(sent_messages.c.campaign_key == campaign_key)
    elif campaign_key is not None:  # the shards of one campaign
        statement = statement.where(sent_messages.c.campaign_key.in_(list(campaign_key)))
    if msg_ids is not None:
        statement = statement.where(sent_messages.c.msg_id.in_(list(msg_ids)))
    return statement


class ReportStore(ReportWriter):
    """Write (``report_writes.py``) and read delivery reports.

    :param engine: the store's engine.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _folded(
        self,
        campaign_key: str | Sequence[str] | None,
        msg_ids: Sequence[str] | None,
        reported_only: bool = False,
    ) -> Select[Any]:
        """One row per sent message: expected segments and what its reports say (only the
        messages with a report, when ``reported_only``)."""
        ok = and_(reports.c.delivered == 1)
        statement = select(
            sent_messages.c.msg_id,
            sent_messages.c.mobile,
            sent_messages.c.segments,
            sent_messages.c.campaign_key,
            func.count(reports.c.id).label("reported"),
            func.sum(case((reports.c.delivered == 0, 1), else_=0)).label("failed_parts"),
            func.sum(case((and_(ok, reports.c.sub_seq == 0), 1), else_=0)).label("whole_ok"),
            func.count(
                func.distinct(case((and_(ok, reports.c.sub_seq > 0), reports.c.sub_seq)))
            ).label("ok_parts"),
        ).select_from(
            sent_messages.join(
                reports,
                and_(
                    reports.c.msg_id == sent_messages.c.msg_id,
                    reports.c.mobile == sent_messages.c.mobile,
                ),
                isouter=not reported_only,
            )
        )
        statement = _filter(statement, campaign_key, msg_ids)
        return statement.group_by(
            sent_messages.c.msg_id,
            sent_messages.c.mobile,
            sent_messages.c.segments,
            sent_messages.c.campaign_key,
        )

    @staticmethod
    def _status(row: Any) -> str:
        if row.failed_parts:
            return FAILED
        if row.whole_ok or (row.ok_parts and row.ok_parts >= row.segments):
            return DELIVERED
        return PENDING

    def _first_failures(
        self,
        conn: Connection,
        campaign_key: str | Sequence[str] | None,
        msg_ids: Sequence[str] | None,
    ) -> dict[tuple[str, str], tuple[str, str]]:
        """The first failing segment's (err, fail_desc) of each failed message."""
        statement = (
            select(
                reports.c.msg_id,
                reports.c.mobile,
                reports.c.sub_seq,
                reports.c.err,
                reports.c.fail_desc,
            )
            .join(
                sent_messages,
                and_(
                    reports.c.msg_id == sent_messages.c.msg_id,
                    reports.c.mobile == sent_messages.c.mobile,
                ),
            )
            .where(reports.c.delivered == 0)
            .order_by(reports.c.msg_id, reports.c.mobile, reports.c.sub_seq)
        )
        first: dict[tuple[str, str], tuple[str, str]] = {}
        for row in conn.execute(_filter(statement, campaign_key, msg_ids)):
            first.setdefault((row.msg_id, row.mobile), (row.err, row.fail_desc))
        return first

    def _unledgered(self, conn: Connection, msg_ids: Sequence[str]) -> list[MessageStatus]:
        """Statuses of requested msg_ids the ledger never recorded, folded from whatever
        reports exist (segments unknown: delivered once every reported segment is); a msg_id
        without any report is one pending message."""
        wanted = list(dict.fromkeys(msg_ids))
        known: set[str] = set()
        found: dict[tuple[str, str], list[Any]] = {}
        for chunk in in_chunks(wanted):
            known.update(
                conn.execute(
                    select(sent_messages.c.msg_id).where(sent_messages.c.msg_id.in_(chunk))
                ).scalars()
            )
            missing = [m for m in chunk if m not in known]
            if not missing:
                continue
            statement = (
                select(reports)
                .where(reports.c.msg_id.in_(missing))
                .order_by(reports.c.msg_id, reports.c.mobile, reports.c.sub_seq)
            )
            for row in conn.execute(statement):
                found.setdefault((row.msg_id, row.mobile), []).append(row)
        statuses = []
        for (msg_id, mobile), rows in found.items():
            failures = [r for r in rows if not r.delivered]
            if failures:
                status, err, desc = FAILED, failures[0].err, failures[0].fail_desc
            else:
                status, err, desc = DELIVERED, "", ""
            segments = max(1, max(r.sub_seq for r in rows))
            statuses.append(
                MessageStatus(msg_id, mobile, status, err, desc, segments, len(rows), "")
            )
        reported = {msg_id for msg_id, _ in found}
        statuses.extend(
            MessageStatus(m, "", PENDING) for m in wanted if m not in known and m not in reported
        )
        return statuses

    def message_statuses(
        self, campaign_key: str | Sequence[str] | None = None, msg_ids: Sequence[str] | None = None
    ) -> list[MessageStatus]:
        """Every sent message of a campaign (or with these msg_ids) and its folded status.

        A message is ``delivered`` when every segment is (or a ``sub_seq`` 0 report says so),
        ``failed`` when any segment failed (the first failing segment gives ``err``), else
        ``pending``. Requested ``msg_ids`` the ledger never recorded (sent by another tool,
        say) are folded from whatever reports exist.
        """
        expand_pending(self.engine)
        with self.engine.connect() as conn:
            rows = conn.execute(self._folded(campaign_key, msg_ids)).all()
            failures = self._first_failures(conn, campaign_key, msg_ids)
            # An unledgered message belongs to no campaign.
            wanted_extra = msg_ids is not None and campaign_key is None
            extra = self._unledgered(conn, msg_ids) if wanted_extra else []  # type: ignore[arg-type]
        statuses = []
        for row in rows:
            err, desc = failures.get((row.msg_id, row.mobile), ("", ""))
            statuses.append(
                MessageStatus(
                    row.msg_id,
                    row.mobile,
                    self._status(row),
                    err,
                    desc,
                    row.segments,
                    row.reported,
                    row.campaign_key,
                )
            )
        return statuses + extra

    def summary(
        self, campaign_key: str | Sequence[str] | None = None, msg_ids: Sequence[str] | None = None
    ) -> DeliverySummary:
        """Counts by status (in SQL: campaigns of millions of messages) and failures by reason."""
        expand_pending(self.engine)
        # Folded over the reported messages only: a message without a report is pending, so
        # the first summary of a large campaign does not group a million unreported rows.
        folded = self._folded(campaign_key, msg_ids, reported_only=True).subquery()
        failed = folded.c.failed_parts > 0
        delivered = and_(
            folded.c.failed_parts == 0,
            (folded.c.whole_ok > 0)
            | ((folded.c.ok_parts > 0) & (folded.c.ok_parts >= folded.c.segments)),
        )
        statement = select(
            func.sum(case((delivered, 1), else_=0)),
            func.sum(case((failed, 1), else_=0)),
        ).select_from(folded)
        sent = _filter(
            select(func.count(literal(1))).select_from(sent_messages), campaign_key, msg_ids
        )
        with self.engine.connect() as conn:
            n_delivered, n_failed = conn.execute(statement).one()
            total = conn.execute(sent).scalar_one()
            first = list(self._first_failures(conn, campaign_key, msg_ids).values())
            extra = (
                self._unledgered(conn, msg_ids)
                if msg_ids is not None and campaign_key is None
                else []
            )
        total, n_delivered, n_failed = total or 0, n_delivered or 0, n_failed or 0
        total += len(extra)
        n_delivered += sum(s.status == DELIVERED for s in extra)
        n_failed += sum(s.status == FAILED for s in extra)
        first += [(s.err, s.fail_desc) for s in extra if s.status == FAILED]
        reasons = Counter(" ".join(p for p in pair if p).strip() or "unknown" for pair in first)
        return DeliverySummary(
            total, n_delivered, n_failed, total - n_delivered - n_failed, dict(reasons)
        )

    def campaigns_of(self, msg_ids: Sequence[str]) -> set[str]:
        """The campaigns that sent these message ids."""
        expand_pending(self.engine)
        wanted = list(dict.fromkeys(msg_ids))
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in in_chunks(wanted):
                statement = select(sent_messages.c.campaign_key).where(
                    sent_messages.c.msg_id.in_(chunk)
                )
                found.update(conn.execute(statement.distinct()).scalars())
        return found

    def rows_after(self, after_id: int, limit: int = 10_000) -> list[dict[str, Any]]:
        """Reports with ``id > after_id`` in id order, for incremental loaders.

        On PostgreSQL ids come from a sequence and concurrent transactions may commit out of
        id order: a loader should re-read a margin below its watermark and load idempotently.
        """
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(reports).where(reports.c.id > after_id).order_by(reports.c.id).limit(limit)
            )
            return [dict(row._mapping) for row in rows]
