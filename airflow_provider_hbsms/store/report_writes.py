"""Storing delivery reports: each once (by mobile, msg_id, sub_seq), checked against what the
store can hold, with their messages' delivery counters moved in the same transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_hbsms.protocol.numbers import canonical_mobile
from airflow_provider_hbsms.protocol.xmlbuild import report_fragment
from airflow_provider_hbsms.protocol.xmlcodec import fragment_of
from airflow_provider_hbsms.store.checks import Unstorable, one_by_one, sub_seq, too_long, utc
from airflow_provider_hbsms.store.counters import count_reports
from airflow_provider_hbsms.store.migrations import limits_of
from airflow_provider_hbsms.store.quarantine import quarantine_items, run_storing
from airflow_provider_hbsms.store.schema import reports
from airflow_provider_hbsms.store.upsert import _sqlite_time, insert_ignore_values, stored_time

if TYPE_CHECKING:
    from collections.abc import Sequence
    from xml.etree.ElementTree import Element

    from sqlalchemy import Connection, Engine

    from airflow_provider_hbsms.protocol.models import Report
    from airflow_provider_hbsms.store.migrations import Limits

#: The columns a stored report's row gives, in order, and its unique key.
_COLUMNS = (
    "mobile", "msg_id", "sub_seq", "err", "fail_desc", "delivered", "report_time", "corp_id",
    "received_at", "source",
)  # fmt: skip
_KEYS = ("mobile", "msg_id", "sub_seq")


def _fragment(entry: tuple[Report, Element | None]) -> str:
    report, node = entry
    return fragment_of(node) if node is not None else report_fragment(report)


class ReportWriter:
    """Store delivery reports (the write side of ``ReportStore``).

    :param engine: the store's engine.
    """

    engine: Engine

    def add(
        self, items: Sequence[Report], source: str, connection: Connection | None = None
    ) -> int:
        """Store reports once each (by mobile, msg_id, sub_seq) in one transaction; returns how
        many were new. Re-pushed or re-pulled reports are ignored; a report the store cannot
        hold is quarantined (``hbsms_quarantine``) with the reason, the others are stored."""

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
        rows, kept, refused = self.checked(connection, entries, source)
        if not careful:
            return self.insert_checked(connection, rows), refused
        new = 0
        stored: list[tuple[Any, ...]] = []
        for row, entry in zip(rows, kept, strict=True):
            counted: list[int] = []

            def insert(row: tuple[Any, ...] = row, counted: list[int] = counted) -> None:
                counted.append(insert_ignore_values(connection, reports, _COLUMNS, [row], _KEYS))

            reason = one_by_one(connection, insert)
            if reason is None:
                new += counted[0]
                stored.append(row)
            else:
                refused.append((_fragment(entry), reason))
        _count(connection, stored)
        return new, refused

    def checked(
        self, connection: Connection, entries: Sequence[tuple[Report, Element | None]], source: str
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Report, Element | None]], list[tuple[str, str]]]:
        """The rows of the reports the store can hold (in ``_COLUMNS`` order), their entries,
        and ``(fragment, reason)`` of each other one."""
        limits = limits_of(self.engine)
        now = stored_time(connection, datetime.now(UTC))
        sqlite = connection.dialect.name == "sqlite"
        rows: list[tuple[Any, ...]] = []
        kept: list[tuple[Report, Element | None]] = []
        refused: list[tuple[str, str]] = []
        longest = (limits.mobile, limits.msg_id, limits.err, limits.corp_id, limits.sub_seq)
        for entry in entries:
            r = entry[0]
            mobile, msg_id, err, corp_id, seq = (
                canonical_mobile(r.mobile), r.msg_id, r.err, r.corp_id, r.sub_seq
            )  # fmt: skip
            try:
                if not (
                    mobile
                    and msg_id
                    and len(mobile) <= longest[0]
                    and len(msg_id) <= longest[1]
                    and len(err) <= longest[2]
                    and len(corp_id) <= longest[3]
                    and 0 <= seq <= longest[4]
                ):
                    _refuse(r, mobile, limits)  # names the rule broken
                when = utc("report_time", r.report_time)
            except Unstorable as exc:
                refused.append((_fragment(entry), str(exc)))
                continue
            rows.append(
                (
                    mobile,
                    msg_id,
                    seq,
                    err,
                    r.fail_desc,
                    1 if r.delivered else 0,
                    _sqlite_time(when) if sqlite else when,
                    corp_id,
                    now,
                    source,
                )
            )
            kept.append(entry)
        return rows, kept, refused

    def insert_checked(self, connection: Connection, rows: Sequence[tuple[Any, ...]]) -> int:
        """Store ``checked`` rows (of one body or of several) in one statement and move their
        messages' counters; returns how many were new."""
        new = insert_ignore_values(connection, reports, _COLUMNS, rows, _KEYS)
        _count(connection, rows)
        return new


def _refuse(report: Report, mobile: str, limits: Limits) -> None:
    """:raises Unstorable: naming the first rule ``report`` breaks (the slow path of
    ``ReportWriter.checked``, for the rare report that breaks one)."""
    if not mobile or not report.msg_id:
        raise Unstorable("a report needs a mobile and a msg_id")
    too_long("mobile", mobile, limits.mobile)
    too_long("msg_id", report.msg_id, limits.msg_id)
    too_long("err", report.err, limits.err)
    too_long("corp_id", report.corp_id, limits.corp_id)
    sub_seq(report.sub_seq, limits)


def _count(connection: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    # The reports stored in this transaction are ``rows`` (tuples in ``_COLUMNS`` order):
    # their messages' delivery counters move in the same transaction.
    count_reports(connection, [(row[1], row[0]) for row in rows])
