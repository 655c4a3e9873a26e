"""Delivery reports: stored once each, folded into per-message statuses and summaries."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, literal, select

from airflow_provider_hbsms.protocol.numbers import canonical_mobile
from airflow_provider_hbsms.protocol.xmlbuild import report_fragment
from airflow_provider_hbsms.protocol.xmlcodec import fragment_of
from airflow_provider_hbsms.store.checks import Unstorable, one_by_one, sub_seq, too_long, utc
from airflow_provider_hbsms.store.chunks import in_chunks
from airflow_provider_hbsms.store.migrations import limits_of
from airflow_provider_hbsms.store.quarantine import run_storing
from airflow_provider_hbsms.store.schema import reports, sent_messages
from airflow_provider_hbsms.store.sent import expand_pending
from airflow_provider_hbsms.store.upsert import _sqlite_time, insert_ignore_values, stored_time

if TYPE_CHECKING:
    from collections.abc import Sequence
    from xml.etree.ElementTree import Element

    from sqlalchemy import Connection, Engine, Select

    from airflow_provider_hbsms.protocol.models import Report

DELIVERED, FAILED, PENDING = "delivered", "failed", "pending"
#: The columns a stored report's row gives, in order, and its unique key.
_COLUMNS = (
    "mobile", "msg_id", "sub_seq", "err", "fail_desc", "delivered", "report_time", "corp_id",
    "received_at", "source",
)  # fmt: skip
_KEYS = ("mobile", "msg_id", "sub_seq")


@dataclass(frozen=True, slots=True)
class MessageStatus:
    """Where one sent message stands, its segments folded.

    :param msg_id: the message id.
    :param mobile: the number.
    :param status: ``delivered`` (every segment delivered), ``failed`` (any segment failed)
        or ``pending``.
    :param err: the first failing segment's code (failed only).
    :param fail_desc: its description.
    :param segments: segments expected.
    :param reported: segment reports received.
    :param campaign_key: the campaign that sent it.
    """

    msg_id: str
    mobile: str
    status: str
    err: str = ""
    fail_desc: str = ""
    segments: int = 1
    reported: int = 0
    campaign_key: str = ""


@dataclass(frozen=True)
class DeliverySummary:
    """Delivery of a set of messages.

    :param total: messages.
    :param delivered: delivered messages.
    :param failed: failed messages.
    :param pending: messages without a final status yet.
    :param failed_by_reason: failed messages by ``err`` (``err fail_desc``).
    """

    total: int
    delivered: int
    failed: int
    pending: int
    failed_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def delivered_fraction(self) -> float:
        return self.delivered / self.total if self.total else 0.0

    @property
    def is_final(self) -> bool:
        """Every message has a final status (and there is at least one)."""
        return self.total > 0 and self.pending == 0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["delivered_fraction"] = round(self.delivered_fraction, 6)
        data["is_final"] = self.is_final
        return data


def _fragment(entry: tuple[Report, Element | None]) -> str:
    report, node = entry
    return fragment_of(node) if node is not None else report_fragment(report)


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


class ReportStore:
    """Write and read delivery reports.

    :param engine: the store's engine.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self, items: Sequence[Report], source: str, connection: Connection | None = None
    ) -> int:
        """Store reports once each (by mobile, msg_id, sub_seq) in one transaction; returns how
        many were new. Re-pushed or re-pulled reports are ignored; a report the store cannot
        hold is quarantined (``hbsms_quarantine``) with the reason, the others are stored."""
        from airflow_provider_hbsms.store.quarantine import quarantine_items

        entries = [(r, None) for r in items]

        def work(conn: Connection, careful: bool = False) -> int:
            new, refused = self.add_read(conn, entries, source, careful)
            quarantine_items(conn, "reports", source, None, refused)
            return new

        if connection is not None:
            return work(connection, careful=True)
        return run_storing(self.engine, work)

    def add_read(
        self,
        connection: Connection,
        entries: Sequence[tuple[Report, Element | None]],
        source: str,
        careful: bool = False,
    ) -> tuple[int, list[tuple[str, str]]]:
        """Store the reports of ``entries`` (each with the element it was read from, if any)
        that the store can hold; returns how many were new, and ``(fragment, reason)`` of
        each that it cannot hold. ``careful`` stores one by one, so that a value only the
        database refuses is found (and refused) alone."""
        limits = limits_of(self.engine)
        now = stored_time(connection, datetime.now(UTC))
        sqlite = connection.dialect.name == "sqlite"
        rows: list[tuple[Any, ...]] = []
        kept: list[tuple[Report, Element | None]] = []
        refused: list[tuple[str, str]] = []
        for entry in entries:
            r = entry[0]
            try:
                mobile = canonical_mobile(r.mobile)
                if not mobile or not r.msg_id:
                    raise Unstorable("a report needs a mobile and a msg_id")
                too_long("mobile", mobile, limits.mobile)
                too_long("msg_id", r.msg_id, limits.msg_id)
                too_long("err", r.err, limits.err)
                too_long("corp_id", r.corp_id, limits.corp_id)
                when = utc("report_time", r.report_time)
                rows.append(
                    (
                        mobile,
                        r.msg_id,
                        sub_seq(r.sub_seq, limits),
                        r.err,
                        r.fail_desc,
                        1 if r.delivered else 0,
                        _sqlite_time(when) if sqlite else when,
                        r.corp_id,
                        now,
                        source,
                    )
                )
                kept.append(entry)
            except Unstorable as exc:
                refused.append((_fragment(entry), str(exc)))
        if not careful:
            new = insert_ignore_values(connection, reports, _COLUMNS, rows, _KEYS)
        else:
            new = 0
            stored: list[tuple[Any, ...]] = []
            for row, entry in zip(rows, kept, strict=True):
                counted: list[int] = []

                def insert(row: tuple[Any, ...] = row, counted: list[int] = counted) -> None:
                    counted.append(
                        insert_ignore_values(connection, reports, _COLUMNS, [row], _KEYS)
                    )

                reason = one_by_one(connection, insert)
                if reason is None:
                    new += counted[0]
                    stored.append(row)
                else:
                    refused.append((_fragment(entry), reason))
            rows = stored
        # The reports stored in this transaction are ``rows`` (tuples in ``_COLUMNS`` order):
        # their messages' delivery counters move in the same transaction.
        from airflow_provider_hbsms.store.counters import count_reports

        count_reports(connection, [(row[1], row[0]) for row in rows])
        return new, refused

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
