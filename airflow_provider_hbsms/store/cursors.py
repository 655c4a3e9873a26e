"""Named positions kept in the store, so a poller resumes where it stopped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from airflow_provider_hbsms.store.schema import cursors
from airflow_provider_hbsms.store.upsert import upsert

if TYPE_CHECKING:
    from sqlalchemy import Engine


class Cursors:
    """Read and move named positions (``hbsms_cursors``).

    :param engine: the store's engine.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, name: str) -> int | None:
        """The position saved under ``name``, or None if there is none yet."""
        with self.engine.connect() as conn:
            position = conn.execute(
                select(cursors.c.position).where(cursors.c.name == name)
            ).scalar_one_or_none()
            return None if position is None else int(position)

    def set(self, name: str, position: int) -> None:
        """Save ``position`` under ``name`` and commit."""
        with self.engine.begin() as conn:
            upsert(
                conn,
                cursors,
                {"name": name},
                {"position": position, "updated_at": datetime.now(UTC)},
            )
