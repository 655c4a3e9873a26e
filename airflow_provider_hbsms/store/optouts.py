"""The opt-out list: numbers that asked not to be texted again, kept in the canonical form
(``protocol.numbers``) so that an opt-out from ``+8613800138000`` keeps ``13800138000`` out of
the next campaign."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from airflow_provider_hbsms.protocol.numbers import canonical_mobile
from airflow_provider_hbsms.store.chunks import in_chunks
from airflow_provider_hbsms.store.schema import opt_outs
from airflow_provider_hbsms.store.upsert import insert_ignore

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy import Connection, Engine


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
            for m in dict.fromkeys(canonical_mobile(m) for m in mobiles)
            if m
        ]
        if not rows:
            return 0
        if connection is not None:
            return insert_ignore(connection, opt_outs, rows, ["mobile"])
        with self.engine.begin() as conn:
            return insert_ignore(conn, opt_outs, rows, ["mobile"])

    def remove(self, mobiles: Iterable[str]) -> int:
        """Take numbers off the list (they opted back in), in any form; returns how many were
        removed."""
        wanted = list(dict.fromkeys(_forms(mobiles)))
        removed = 0
        with self.engine.begin() as conn:
            for chunk in in_chunks(wanted):
                removed += conn.execute(
                    delete(opt_outs).where(opt_outs.c.mobile.in_(chunk))
                ).rowcount
        return removed

    def opted_out(self, mobiles: Iterable[str]) -> set[str]:
        """Which of ``mobiles`` are on the list, whatever form each is written in (they are
        returned as given)."""
        given = list(dict.fromkeys(mobiles))
        wanted = list(dict.fromkeys(_forms(given)))
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in in_chunks(wanted):
                found.update(
                    conn.execute(
                        select(opt_outs.c.mobile).where(opt_outs.c.mobile.in_(chunk))
                    ).scalars()
                )
        listed = {canonical_mobile(m) for m in found}
        return {m for m in given if canonical_mobile(m) in listed}

    def all(self) -> set[str]:
        """Every number on the list, in the canonical form (for campaigns that filter in
        memory); numbers an older version stored as written are read canonical too."""
        with self.engine.connect() as conn:
            return {canonical_mobile(m) for m in conn.execute(select(opt_outs.c.mobile)).scalars()}


def _forms(mobiles: Iterable[str]) -> Iterable[str]:
    """Each number as given and in the canonical form (the list may hold either)."""
    for mobile in mobiles:
        yield mobile
        yield canonical_mobile(mobile)
