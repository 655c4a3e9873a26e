"""Load reports, message statuses and replies from the store into a warehouse table."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook, BaseOperator

from airflow_provider_hbsms.params import (
    DEFAULT_STORE_CONN_ID,
    STORE_TEMPLATE_FIELDS,
    StoreAccess,
    check_kinds,
)
from airflow_provider_hbsms.store.times import as_utc

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_provider_hbsms.store import Store

KINDS = ("reports", "statuses", "replies")


@dataclass(frozen=True)
class _Table:
    suffix: str
    columns: tuple[tuple[str, str], ...]  # (name, portable type: text/int/bigint/ts)
    key: tuple[str, ...]


_TABLES = {
    "reports": _Table(
        "reports",
        (
            ("source_id", "bigint"),
            ("mobile", "text"),
            ("msg_id", "text"),
            ("sub_seq", "int"),
            ("err", "text"),
            ("fail_desc", "text"),
            ("delivered", "int"),
            ("report_time", "ts"),
            ("corp_id", "text"),
            ("received_at", "ts"),
            ("source", "text"),
        ),
        ("mobile", "msg_id", "sub_seq"),
    ),
    "replies": _Table(
        "replies",
        (
            ("source_id", "bigint"),
            ("reply_key", "text"),
            ("mobile", "text"),
            ("ext", "text"),
            ("content", "text"),
            ("reply_time", "ts"),
            ("corp_id", "text"),
            ("received_at", "ts"),
            ("source", "text"),
            ("campaign_key", "text"),
            ("msg_id", "text"),
        ),
        ("reply_key",),
    ),
    "statuses": _Table(
        "message_status",
        (
            ("msg_id", "text"),
            ("mobile", "text"),
            ("campaign_key", "text"),
            ("status", "text"),
            ("err", "text"),
            ("fail_desc", "text"),
            ("segments", "int"),
            ("reported", "int"),
            ("updated_at", "ts"),
        ),
        ("msg_id", "mobile"),
    ),
}

#: A plain SQL identifier: what the warehouse names may be made of. Anything else (quotes,
#: spaces, semicolons, dots) is refused rather than escaped, so no name can carry SQL.
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: PostgreSQL cuts longer names short, so two tables could end up under one name.
MAX_IDENTIFIER_LENGTH = 63


def check_identifier(value: object, field: str, allow_empty: bool = False) -> str:
    """``value`` if it is a plain SQL identifier (letters, digits, ``_``; not starting with a
    digit; at most 63 characters).

    :raises ValueError: naming ``field`` and the rule broken.
    """
    if not isinstance(value, str):
        raise ValueError(f"{field} must be text, got {type(value).__name__}")
    if allow_empty and value == "":
        return value
    if not IDENTIFIER.fullmatch(value) or len(value) > MAX_IDENTIFIER_LENGTH:
        raise ValueError(
            f"{field} {value!r} is not a plain SQL identifier: use letters, digits and '_', "
            f"not starting with a digit, at most {MAX_IDENTIFIER_LENGTH} characters"
        )
    return value


def sql_dialect(conn_type: str | None) -> Any:
    """The SQLAlchemy dialect whose quoting rules apply to a connection type (ANSI double
    quotes for types SQLAlchemy does not know)."""
    from sqlalchemy.dialects import mssql, mysql, oracle, postgresql, sqlite
    from sqlalchemy.engine.default import DefaultDialect

    dialects = {
        "postgres": postgresql,
        "postgresql": postgresql,
        "sqlite": sqlite,
        "mysql": mysql,
        "mssql": mssql,
        "oracle": oracle,
    }
    module = dialects.get(conn_type or "")
    return module.dialect() if module is not None else DefaultDialect()


_TYPES = {
    "postgres": {"text": "TEXT", "int": "INTEGER", "bigint": "BIGINT", "ts": "TIMESTAMPTZ"},
    "default": {"text": "TEXT", "int": "INTEGER", "bigint": "BIGINT", "ts": "TIMESTAMP"},
}


class HbSmsLoadToSqlOperator(StoreAccess, BaseOperator):
    """Copy reports, message statuses and replies from the store into warehouse tables.

    Tables ``<table_prefix>reports``, ``<table_prefix>message_status`` and
    ``<table_prefix>replies`` are created when missing, keyed by the natural keys (reports:
    mobile + msg_id + sub_seq; statuses: msg_id + mobile; replies: reply_key) and loaded with
    upserts, so a rerun never duplicates a row. Incremental: the watermark is the largest
    ``source_id`` (the store's row id) already in the warehouse table; each run re-reads
    ``reread_margin`` ids below it, because on PostgreSQL rows may commit out of id order.
    Statuses are refreshed for every campaign that got new reports. Counts are returned and
    attached to every outlet Asset's event.

    :param sql_conn_id: any common-sql ``DbApiHook`` connection (postgres, sqlite, ...).
        (templated)
    :param table_prefix: prefix of the warehouse tables: letters, digits and ``_`` (may be
        empty); names are quoted as the database needs, so their case is kept. (templated)
    :param schema: the schema (PostgreSQL) or attached database (SQLite) the tables live in;
        default the connection's. A plain identifier, like the prefix. (templated)
    :param kinds: which of ``reports``, ``statuses``, ``replies`` to load (default all; one
        may be given as a string).
    :param batch_rows: rows read from the store and written per round.
    :param reread_margin: ids below the watermark read again each run.
    """

    template_fields: Sequence[str] = (
        "sql_conn_id",
        "table_prefix",
        "schema",
        *STORE_TEMPLATE_FIELDS,
    )

    def __init__(
        self,
        *,
        sql_conn_id: str,
        table_prefix: str = "hbsms_",
        schema: str | None = None,
        kinds: str | Sequence[str] = KINDS,
        store_conn_id: str | None = DEFAULT_STORE_CONN_ID,
        store_url: str | None = None,
        batch_rows: int = 5000,
        reread_margin: int = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sql_conn_id = sql_conn_id
        self.table_prefix = table_prefix
        self.schema = schema
        self.kinds = check_kinds(kinds, KINDS)
        self._set_store(store_conn_id, store_url)
        self.batch_rows = batch_rows
        self.reread_margin = reread_margin

    def execute(self, context: Context) -> dict[str, int]:
        connection = BaseHook.get_connection(self.sql_conn_id)
        # Checked here, after templates are rendered: a name never reaches SQL unchecked.
        check_identifier(self.table_prefix, "table_prefix", allow_empty=True)
        if self.schema:
            check_identifier(self.schema, "schema")
        self._preparer = sql_dialect(connection.conn_type).identifier_preparer
        hook = connection.get_hook()
        flavour = "postgres" if connection.conn_type in ("postgres", "postgresql") else "default"
        store = self.store
        counts: dict[str, int] = {}
        touched_msg_ids: list[str] = []
        for kind in ("reports", "replies"):
            if kind in self.kinds or (kind == "reports" and "statuses" in self.kinds):
                loaded, msg_ids = self._load_incremental(hook, flavour, store, kind)
                if kind in self.kinds:
                    counts[kind] = loaded
                if kind == "reports":
                    touched_msg_ids = msg_ids
        if "statuses" in self.kinds:
            counts["statuses"] = self._load_statuses(hook, flavour, store, touched_msg_ids)
        self.log.info("Loaded into %s: %s", self.sql_conn_id, counts)
        for outlet in self.outlets:
            try:
                context["outlet_events"][outlet].extra = dict(counts)
            except (KeyError, TypeError, AttributeError):
                self.log.debug("outlet %s takes no event extra", outlet)
        return counts

    def _table(self, hook: Any, flavour: str, kind: str) -> tuple[str, _Table]:
        spec = _TABLES[kind]
        table = check_identifier(f"{self.table_prefix}{spec.suffix}", "table name")
        quote = self._preparer.quote
        name = f"{quote(self.schema)}.{quote(table)}" if self.schema else quote(table)
        types = _TYPES[flavour]
        columns = ", ".join(f"{c} {types[t]}" for c, t in spec.columns)
        hook.run(
            f"CREATE TABLE IF NOT EXISTS {name} ({columns}, PRIMARY KEY ({', '.join(spec.key)}))"
        )
        return name, spec

    def _write(self, hook: Any, name: str, spec: _Table, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            hook.insert_rows(
                name,
                rows,
                target_fields=[c for c, _ in spec.columns],
                replace=True,
                replace_index=list(spec.key),
                commit_every=self.batch_rows,
            )

    def _load_incremental(
        self, hook: Any, flavour: str, store: Store, kind: str
    ) -> tuple[int, list[str]]:
        name, spec = self._table(hook, flavour, kind)
        watermark = hook.get_first(f"SELECT COALESCE(MAX(source_id), 0) FROM {name}")[0] or 0
        after = max(int(watermark) - self.reread_margin, 0)
        read = store.reports.rows_after if kind == "reports" else store.replies.rows_after
        loaded, msg_ids = 0, list[str]()
        while rows := read(after, self.batch_rows):
            after = rows[-1]["id"]
            new = [r for r in rows if r["id"] > watermark]
            self._write(hook, name, spec, [self._values(spec, r) for r in rows])
            loaded += len(new)
            msg_ids.extend(r["msg_id"] for r in new if r.get("msg_id"))
        return loaded, msg_ids

    @staticmethod
    def _values(spec: _Table, row: dict[str, Any]) -> tuple[Any, ...]:
        row = {**row, "source_id": row["id"]}
        values = (row.get(c) for c, _ in spec.columns)
        return tuple(as_utc(v) if isinstance(v, datetime) else v for v in values)

    def _load_statuses(self, hook: Any, flavour: str, store: Store, msg_ids: list[str]) -> int:
        name, spec = self._table(hook, flavour, "statuses")
        now = datetime.now(UTC)
        written = 0
        for campaign in sorted(store.reports.campaigns_of(msg_ids)):
            statuses = store.reports.message_statuses(campaign_key=campaign)
            rows = [
                (
                    s.msg_id,
                    s.mobile,
                    s.campaign_key,
                    s.status,
                    s.err,
                    s.fail_desc,
                    s.segments,
                    s.reported,
                    now,
                )
                for s in statuses
            ]
            self._write(hook, name, spec, rows)
            written += len(rows)
        return written
