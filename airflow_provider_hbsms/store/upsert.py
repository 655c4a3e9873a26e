"""Insert-if-absent across SQLite and PostgreSQL: the store's idempotency primitive."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection, Table


def insert_ignore(
    connection: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> int:
    """Insert ``rows``, skipping those whose ``keys`` (a unique constraint) already exist.

    Returns how many rows were new. Safe under concurrent writers: the database, not a prior
    SELECT, decides what is a duplicate.
    """
    if not rows:
        return 0
    dialect = connection.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - other databases: one row at a time, duplicates caught
        return _insert_one_by_one(connection, table, rows)
    statement = insert(table).on_conflict_do_nothing(index_elements=list(keys))
    inserted = 0
    # executemany reports no per-row counts on every driver: one statement a row keeps it exact.
    for row in rows:
        inserted += connection.execute(statement, row).rowcount or 0
    return inserted


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
