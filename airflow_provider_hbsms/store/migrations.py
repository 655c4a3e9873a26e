"""The store's schema versions, and bringing an existing store up to the current one.

Version 1 is the schema before the version was recorded (an existing store without an
``hbsms_schema`` row). Version 2 widens the columns that hold what the gateway sends (mobile,
msg_id, err, reply ext) and rewrites numbers stored in a prefixed form (``+86…``, ``86…``,
``0086…``) to the one canonical form, so that opt-outs taken before keep working.

New nullable columns and new tables are added whenever a store is opened (that is always
safe); the versioned steps run when a store is opened with ``migrate=True`` (the default) or by
``hbsms-store migrate``.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, inspect, or_, select, update
from sqlalchemy.exc import DBAPIError

from airflow_provider_hbsms.protocol.numbers import canonical_mobile
from airflow_provider_hbsms.store.schema import (
    ERR_LENGTH,
    EXT_LENGTH,
    MOBILE_LENGTH,
    MSG_ID_LENGTH,
    SCHEMA_VERSION,
    metadata,
    opt_outs,
    replies,
    reports,
    schema_info,
)
from airflow_provider_hbsms.store.upsert import upsert

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine, Table

log = logging.getLogger(__name__)

_NAME = "store"
#: The largest sub_seq every store holds (a 32-bit INTEGER column on PostgreSQL).
MAX_SUB_SEQ = 2**31 - 1


@dataclass(frozen=True)
class Limits:
    """What the columns of a schema version hold; longer values are quarantined.

    :param mobile: characters of a report's or reply's number.
    :param msg_id: characters of a report's msg_id.
    :param err: characters of a report's status code.
    :param ext: characters of a reply's ext.
    :param corp_id: characters of the account id.
    :param sub_seq: the largest segment number.
    """

    mobile: int
    msg_id: int
    err: int
    ext: int
    corp_id: int = 64
    sub_seq: int = MAX_SUB_SEQ


LIMITS = {
    1: Limits(mobile=11, msg_id=50, err=32, ext=20),
    2: Limits(mobile=MOBILE_LENGTH, msg_id=MSG_ID_LENGTH, err=ERR_LENGTH, ext=EXT_LENGTH),
}

#: Version 2's wider columns: (table, column, new size).
_WIDENED = (
    ("hbsms_reports", "mobile", MOBILE_LENGTH),
    ("hbsms_reports", "msg_id", MSG_ID_LENGTH),
    ("hbsms_reports", "err", ERR_LENGTH),
    ("hbsms_replies", "mobile", MOBILE_LENGTH),
    ("hbsms_replies", "ext", EXT_LENGTH),
    ("hbsms_opt_outs", "mobile", MOBILE_LENGTH),
)


def schema_version(connection: Connection) -> int:
    """The version the store is at (1 for a store from before versions were recorded)."""
    version = connection.execute(
        select(schema_info.c.version).where(schema_info.c.name == _NAME)
    ).scalar()
    return int(version) if version is not None else 1


def _record(connection: Connection, version: int) -> None:
    upsert(
        connection,
        schema_info,
        {"name": _NAME},
        {"version": version, "migrated_at": datetime.now(UTC)},
    )


def prepare(engine: Engine, migrate: bool = True, attempts: int = 5) -> int:
    """Create what is missing and, with ``migrate``, bring an older store to the current
    version; returns the version the store is at.

    Several processes (receiver workers, tasks) may race on a new database: the loser's CREATE
    fails because the table now exists, and a new pass sees it.
    """
    for attempt in range(attempts):
        try:
            return _prepare(engine, migrate)
        except DBAPIError:
            if attempt == attempts - 1:
                raise
            import time

            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _prepare(engine: Engine, migrate: bool) -> int:
    existing = set(inspect(engine).get_table_names())
    fresh = "hbsms_reports" not in existing
    metadata.create_all(engine, checkfirst=True)
    with engine.begin() as connection:
        if fresh:
            if schema_info.name not in existing:
                _record(connection, SCHEMA_VERSION)
            return schema_version(connection)
        _add_columns(connection)
        version = schema_version(connection)
        if schema_info.name not in existing or version == 1:
            _record(connection, version)
    if migrate and version < SCHEMA_VERSION:
        return upgrade(engine)
    return version


def _add_columns(connection: Connection) -> None:
    """Add the nullable columns a newer schema has and the store lacks (always safe)."""
    inspector = inspect(connection)
    for table in metadata.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present or not column.nullable:
                continue
            kind = column.type.compile(dialect=connection.dialect)
            connection.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")


def upgrade(engine: Engine) -> int:
    """Run the versioned steps the store has not had; returns the version reached."""
    with engine.begin() as connection:
        version = schema_version(connection)
        if version < 2:
            log.info("Migrating the hbsms store to schema version 2")
            _widen(connection)
            for table in (opt_outs, replies, reports):
                _canonical_numbers(connection, table)
            version = 2
            _record(connection, version)
    forget_limits()
    return version


def _widen(connection: Connection) -> None:
    # SQLite does not enforce VARCHAR sizes: the limits the code checks are what counts there.
    if connection.dialect.name != "postgresql":
        return
    for table, column, size in _WIDENED:
        # Widening a VARCHAR changes the catalog only: no table rewrite, no index rebuild.
        connection.exec_driver_sql(
            f"ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR({size})"
        )


def _canonical_numbers(connection: Connection, table: Table) -> None:
    """Rewrite numbers stored in another form than the canonical one; a row that then
    duplicates one stored under the canonical form is dropped (it says the same)."""
    mobile = table.c.mobile
    suspects = or_(
        ~mobile.like("1%"),
        mobile.like("% %"),
        mobile.like("%-%"),
        mobile.like("%(%"),
        mobile.like("%.%"),
    )
    keys = [c for c in table.primary_key.columns]
    rows = connection.execute(select(*keys, mobile).where(suspects)).all()
    changed = 0
    for row in rows:
        canonical = canonical_mobile(row.mobile)
        if canonical == row.mobile:
            continue
        where = [c == row._mapping[c.name] for c in keys]
        if table is opt_outs:
            taken = connection.execute(
                select(opt_outs.c.mobile).where(opt_outs.c.mobile == canonical)
            ).first()
        elif table is reports:
            original = connection.execute(select(reports).where(*where)).one()
            taken = connection.execute(
                select(reports.c.id).where(
                    reports.c.mobile == canonical,
                    reports.c.msg_id == original.msg_id,
                    reports.c.sub_seq == original.sub_seq,
                )
            ).first()
        else:
            taken = None  # replies are keyed by reply_key, not by number
        if taken is not None:
            connection.execute(delete(table).where(*where))
        else:
            connection.execute(update(table).where(*where).values(mobile=canonical))
        changed += 1
    if changed:
        log.info("Rewrote %d number(s) of %s to the canonical form", changed, table.name)


_limits: weakref.WeakKeyDictionary[Engine, Limits] = weakref.WeakKeyDictionary()


def limits_of(engine: Engine) -> Limits:
    """What the store's columns hold, by its recorded schema version (read once per engine)."""
    found = _limits.get(engine)
    if found is None:
        with engine.connect() as connection:
            version = schema_version(connection)
        found = _limits[engine] = LIMITS.get(version, LIMITS[SCHEMA_VERSION])
    return found


def forget_limits() -> None:
    """Read the versions again (after an upgrade by another process)."""
    _limits.clear()
