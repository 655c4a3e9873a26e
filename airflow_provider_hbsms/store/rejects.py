"""Input rows a campaign found invalid, kept in the store for whoever fixes the data."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from airflow_provider_hbsms.exceptions import ValidationProblem
from airflow_provider_hbsms.store.schema import rejects

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy import Engine

#: Rows per committed insert: a campaign with millions of bad rows never holds the store's
#: write lock for the whole of them.
_PAGE = 1000


class RejectStore:
    """The ``hbsms_rejects`` table.

    :param engine: the store's engine.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def replace(self, campaign_key: str, problems: Iterable[ValidationProblem]) -> int:
        """Make ``problems`` the campaign's rejects (a retry's list replaces the last one);
        returns how many were kept."""
        with self.engine.begin() as conn:
            conn.execute(delete(rejects).where(rejects.c.campaign_key == campaign_key))
        kept = 0
        problems = iter(problems)
        while page := list(islice(problems, _PAGE)):
            with self.engine.begin() as conn:
                now = datetime.now(UTC)
                conn.execute(
                    rejects.insert(),
                    [
                        {
                            "campaign_key": campaign_key,
                            "row_no": p.row if p.row is not None else -1,
                            "field": p.field,
                            "rule": p.rule,
                            "value": p.value,
                            "recorded_at": now,
                        }
                        for p in page
                    ],
                )
            kept += len(page)
        return kept

    def of(self, campaign_key: str) -> list[ValidationProblem]:
        """The campaign's rejects, in row order."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(rejects.c.field, rejects.c.rule, rejects.c.value, rejects.c.row_no)
                .where(rejects.c.campaign_key == campaign_key)
                .order_by(rejects.c.row_no, rejects.c.id)
            )
            return [ValidationProblem(r.field, r.rule, r.value, r.row_no) for r in rows]
