"""Keeping a campaign's invalid rows: a CSV file and/or the store's ``hbsms_rejects`` table."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_hbsms.campaign.rejects_file import write_rejects

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_hbsms.campaign.plan import Plan, Planner
    from airflow_provider_hbsms.exceptions import ValidationProblem
    from airflow_provider_hbsms.store.rejects import RejectStore

log = logging.getLogger(__name__)


class InfoLogger(Protocol):
    """Where a line is logged: a ``logging`` logger or an operator's ``self.log``."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...


def keep_rejects(
    campaign: Planner,
    plan: Plan,
    path: Any = None,
    table: RejectStore | None = None,
    logger: InfoLogger = log,
) -> None:
    """Every invalid row to ``path`` (CSV: row, field, rule, value) and/or ``table``, as
    asked; an earlier try's are replaced even when there are none (and then the input is not
    read again).

    :param campaign: the campaign (read once more for its invalid rows).
    :param plan: its plan (how many rows are invalid).
    :param path: the CSV file (local path, URL or ``ObjectStoragePath``), or None.
    :param table: the store's rejects, or None.
    :param logger: where what was kept is logged.
    """

    def problems() -> Iterator[ValidationProblem]:
        return campaign.problems() if plan.invalid else iter(())

    if path:
        written = write_rejects(path, problems())
        logger.info("Invalid rows written to %s", written)
    if table is not None:
        kept = table.replace(campaign.key, problems())
        logger.info("%d invalid rows kept in the store's hbsms_rejects table", kept)
