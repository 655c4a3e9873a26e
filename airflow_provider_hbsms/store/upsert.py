"""Insert-if-absent across SQLite and PostgreSQL (the store's idempotency primitive), and the
other writes on hot paths.

The statements go straight to the driver: SQLAlchemy's compilation of a 100-row insert costs
tens of milliseconds, more than the database spends on it, and the push receiver and the
collector call this for every body they get; even a cached statement costs tens of
microseconds to look up, which the ledger pays on every batch.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from itertools import chain
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, update

from airflow_provider_hbsms.store.chunks import SQLITE_MAX_VARIABLES, in_chunks

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection, Table


#: Rows from which PostgreSQL gets them by ``COPY`` (below, the round trips it adds cost more).
_COPY_FROM = 200
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _sqlite_time(value: datetime | None) -> str | None:
    """The text form SQLAlchemy's SQLite DateTime writes and parses back
    (``YYYY-MM-DD HH:MM:SS.ffffff``): naive, in UTC here."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    # isoformat is several times faster than strftime; the slice drops any "+00:00".
    return value.isoformat(" ", "microseconds")[:26]


def stored_time(connection: Connection, value: datetime | None) -> Any:
    """``value`` as the driver should be handed it for a DateTime column (SQLite: text)."""
    return _sqlite_time(value) if connection.dialect.name == "sqlite" else value


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
    if connection.dialect.name not in ("sqlite", "postgresql"):  # pragma: no cover
        return _insert_one_by_one(connection, table, rows)
    times = [c for c in columns if isinstance(table.c[c].type, DateTime)]
    if times and connection.dialect.name == "sqlite":
        converted: dict[datetime | None, str | None] = {}  # rows often share timestamps

        def text(value: datetime | None) -> str | None:
            if value not in converted:
                converted[value] = _sqlite_time(value)
            return converted[value]

        rows = [{**row, **{c: text(row[c]) for c in times}} for row in rows]
    values = [tuple(row[c] for c in columns) for row in rows]
    return insert_ignore_values(connection, table, columns, values, keys)


def insert_ignore_values(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    values: Sequence[tuple[Any, ...]],
    keys: Sequence[str],
) -> int:
    """``insert_ignore`` for rows already given as tuples in ``columns`` order, with times as
    ``stored_time`` makes them: the form for hot paths that build many rows.

    SQLite gets multi-row INSERTs (one statement step for many rows, not one per row),
    PostgreSQL ``execute_values`` (one round trip for many rows, not one per row).
    """
    if not values:
        return 0
    names = ", ".join(columns)
    conflict = f"ON CONFLICT ({', '.join(keys)}) DO NOTHING"
    driver = connection.connection.driver_connection
    if connection.dialect.name == "sqlite":
        row = f"({', '.join('?' * len(columns))})"
        before = driver.total_changes  # type: ignore[union-attr]
        for part in in_chunks(values, SQLITE_MAX_VARIABLES // len(columns)):
            connection.exec_driver_sql(
                f"INSERT INTO {table.name} ({names}) VALUES {', '.join([row] * len(part))} "
                f"{conflict}",
                tuple(chain.from_iterable(part)),
            )
        return int(driver.total_changes - before)  # type: ignore[union-attr]
    if len(values) >= _COPY_FROM:
        copied = _copy_insert_ignore(driver, table.name, names, conflict, values)
        if copied is not None:
            return copied
    from psycopg2.extras import execute_values

    with driver.cursor() as cursor:  # type: ignore[union-attr]
        inserted = execute_values(
            cursor,
            f"INSERT INTO {table.name} ({names}) VALUES %s {conflict} RETURNING 1",
            values,
            page_size=1000,
            fetch=True,
        )
    return len(inserted)


def _copy_insert_ignore(
    driver: Any, table: str, names: str, conflict: str, values: Sequence[tuple[Any, ...]]
) -> int | None:
    """PostgreSQL, many rows: ``COPY`` them into a temporary table of the same column types and
    move them over with one ``INSERT ... SELECT``, about half the client CPU and half the time
    of one ``INSERT ... VALUES`` of them all (no literal per value to format, nor a statement
    of thousands of values to parse). None when a value has no ``COPY`` text form here."""
    try:
        text = copy_text(values)
    except TypeError:
        return None
    staging = f"{table}_incoming"
    with driver.cursor() as cursor:
        # Per session, emptied by the statement that reads it (and at commit, should that
        # statement fail): two inserts of one transaction never see each other's rows.
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS "
            f"SELECT {names} FROM {table} WITH NO DATA"
        )
        cursor.copy_expert(f"COPY {staging} ({names}) FROM STDIN", io.StringIO(text))
        cursor.execute(
            f"WITH moved AS (DELETE FROM {staging} RETURNING {names}) "
            f"INSERT INTO {table} ({names}) SELECT {names} FROM moved {conflict}"
        )
        return int(cursor.rowcount)


def copy_text(values: Sequence[tuple[Any, ...]]) -> str:
    """Rows in ``COPY``'s text format, a line each.

    Column by column: a column's values are nearly always of one type, so each is turned into
    text by one conversion over the whole column (mostly in C) rather than by a call per value.

    :raises TypeError: a value of a type without a text form here.
    """
    if not values:
        return ""
    columns = [_column_text(column) for column in zip(*values, strict=True)]
    return "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n"


def _column_text(column: tuple[Any, ...]) -> Sequence[str]:
    kinds = set(map(type, column))
    if kinds == {str}:
        if _needs_escapes("".join(column)):
            return [value.translate(_COPY_ESCAPES) for value in column]
        return column
    if kinds <= {int, type(None)} or kinds <= {float, type(None)}:
        return ["\\N" if value is None else str(value) for value in column]
    if kinds <= {datetime, type(None)}:
        return ["\\N" if value is None else value.isoformat() for value in column]
    return [_copy_text(value) for value in column]


def _needs_escapes(text: str) -> bool:
    """``text`` holds a character ``COPY`` reads specially (translating only then is faster)."""
    return "\\" in text or "\t" in text or "\n" in text or "\r" in text


def _copy_text(value: Any) -> str:
    """A value in ``COPY``'s text format.

    :raises TypeError: a type without a text form here (the caller inserts by ``VALUES``).
    """
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES) if _needs_escapes(value) else value
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def update_values(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    key: str,
    values: Sequence[tuple[Any, ...]],
) -> None:
    """Set ``columns`` on the rows whose ``key`` column matches, one row per tuple of
    ``values`` (the columns' values in order, then the key; times as ``stored_time`` makes
    them)."""
    if not values:
        return
    mark = "?" if connection.dialect.name == "sqlite" else "%s"
    assignments = ", ".join(f"{column} = {mark}" for column in columns)
    connection.exec_driver_sql(
        f"UPDATE {table.name} SET {assignments} WHERE {key} = {mark}", list(values)
    )


def upsert(
    connection: Connection, table: Table, key: dict[str, Any], values: dict[str, Any]
) -> None:
    """Set ``values`` on the row with ``key`` (a unique constraint), creating it if absent."""
    if insert_ignore(connection, table, [{**key, **values}], list(key)):
        return
    connection.execute(
        update(table)
        .where(*(table.c[name] == value for name, value in key.items()))
        .values(**values)
    )


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
