"""The opt-out list: numbers that asked not to be texted again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from airflow_provider_hbsms.store.schema import opt_outs
from airflow_provider_hbsms.store.upsert import insert_ignore

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy import Connection, Engine

# SQLite allows at most 32766 bound parameters per statement; stay well below.
_CHUNK = 900


class OptOutList:
    """Read and change the opt-out list.

    :param engine: the store's engine.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self,
        mobiles: Iterable[str],
        source: str = "manual",
        keyword: str = "",
        reply_id: int | None = None,
        connection: Connection | None = None,
    ) -> int:
        """Put numbers on the list (already listed ones are kept as they are); returns how many
        were new."""
        now = datetime.now(UTC)
        rows = [
            {
                "mobile": m,
                "keyword": keyword,
                "source": source,
                "reply_id": reply_id,
                "created_at": now,
            }
            for m in dict.fromkeys(mobiles)
        ]
        if not rows:
            return 0
        if connection is not None:
            return insert_ignore(connection, opt_outs, rows, ["mobile"])
        with self.engine.begin() as conn:
            return insert_ignore(conn, opt_outs, rows, ["mobile"])

    def remove(self, mobiles: Iterable[str]) -> int:
        """Take numbers off the list (they opted back in); returns how many were removed."""
        wanted = list(dict.fromkeys(mobiles))
        removed = 0
        with self.engine.begin() as conn:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                removed += conn.execute(
                    delete(opt_outs).where(opt_outs.c.mobile.in_(chunk))
                ).rowcount
        return removed

    def opted_out(self, mobiles: Iterable[str]) -> set[str]:
        """Which of ``mobiles`` are on the list."""
        wanted = list(dict.fromkeys(mobiles))
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                found.update(
                    conn.execute(
                        select(opt_outs.c.mobile).where(opt_outs.c.mobile.in_(chunk))
                    ).scalars()
                )
        return found

    def all(self) -> set[str]:
        """Every number on the list (for campaigns that filter in memory)."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(opt_outs.c.mobile)).scalars())
