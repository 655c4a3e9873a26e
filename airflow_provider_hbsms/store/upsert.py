"""Insert-if-absent across SQLite and PostgreSQL: the store's idempotency primitive.

The statements go straight to the driver: SQLAlchemy's compilation of a 100-row insert costs
tens of milliseconds, more than the database spends on it, and the push receiver and the
collector call this for every body they get.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection, Table


def _sqlite_time(value: datetime | None) -> str | None:
    """The text form SQLAlchemy's SQLite DateTime writes and parses back
    (``YYYY-MM-DD HH:MM:SS.ffffff``): naive, in UTC here."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    # isoformat is several times faster than strftime; the slice drops any "+00:00".
    return value.isoformat(" ", "microseconds")[:26]


def insert_ignore(
    connection: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> int:
    """Insert ``rows``, skipping those whose ``keys`` (a unique constraint) already exist.

    Returns how many rows were new. Safe under concurrent writers: the database, not a prior
    SELECT, decides what is a duplicate. Every row must have the same columns.
    """
    if not rows:
        return 0
    columns = list(rows[0])
    names = ", ".join(columns)
    conflict = f"ON CONFLICT ({', '.join(keys)}) DO NOTHING"
    dialect = connection.dialect.name
    driver = connection.connection.driver_connection
    if dialect == "sqlite":
        placeholders = ", ".join("?" * len(columns))
        times = [c for c in columns if isinstance(table.c[c].type, DateTime)]
        if times:
            converted: dict[datetime | None, str | None] = {}  # rows often share timestamps

            def text(value: datetime | None) -> str | None:
                if value not in converted:
                    converted[value] = _sqlite_time(value)
                return converted[value]

            rows = [{**row, **{c: text(row[c]) for c in times}} for row in rows]
        values = [tuple(row[c] for c in columns) for row in rows]
        before = driver.total_changes  # type: ignore[union-attr]
        connection.exec_driver_sql(
            f"INSERT INTO {table.name} ({names}) VALUES ({placeholders}) {conflict}", values
        )
        return int(driver.total_changes - before)  # type: ignore[union-attr]
    if dialect == "postgresql":
        from psycopg2.extras import execute_values

        values = [tuple(row[c] for c in columns) for row in rows]
        with driver.cursor() as cursor:  # type: ignore[union-attr]
            inserted = execute_values(
                cursor,
                f"INSERT INTO {table.name} ({names}) VALUES %s {conflict} RETURNING 1",
                values,
                page_size=1000,
                fetch=True,
            )
        return len(inserted)
    return _insert_one_by_one(connection, table, rows)  # pragma: no cover - other databases


def _insert_one_by_one(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    from sqlalchemy.exc import IntegrityError

    inserted = 0
    for row in rows:
        savepoint = connection.begin_nested()
        try:
            connection.execute(table.insert(), row)
        except IntegrityError:
            savepoint.rollback()
        else:
            savepoint.commit()
            inserted += 1
    return inserted
