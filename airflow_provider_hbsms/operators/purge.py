"""Remove recipients' personal data from the store after a retention period."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_hbsms.params import DEFAULT_STORE_CONN_ID, STORE_TEMPLATE_FIELDS, StoreAccess

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context


class HbSmsPurgeOperator(StoreAccess, BaseOperator):
    """Purge personal data (numbers, message and reply texts, invalid rows) from the store,
    keeping every campaign's counts (see ``store/purge.py``).

    With ``campaign_key``, that campaign is purged now. Otherwise every campaign whose last
    batch is older than ``retention_days`` (default ``[hbsms] retention_days``) is, with the
    replies, reports and dead letters that old that belong to no campaign. Returns the counts
    of what was purged.

    :param retention_days: days to keep personal data. (templated)
    :param campaign_key: purge this campaign now instead. (templated)
    """

    template_fields: Sequence[str] = ("retention_days", "campaign_key", *STORE_TEMPLATE_FIELDS)
    ui_color = "#f4e8e8"

    def __init__(
        self,
        *,
        retention_days: float | str | None = None,
        campaign_key: str | None = None,
        store_conn_id: str | None = DEFAULT_STORE_CONN_ID,
        store_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.retention_days = retention_days
        self.campaign_key = campaign_key
        self._set_store(store_conn_id, store_url)

    def execute(self, context: Context) -> dict[str, int]:
        from airflow_provider_hbsms.store.purge import (
            configured_retention_days,
            purge_campaign,
            purge_older_than,
        )

        store = self.store
        if self.campaign_key:
            result = purge_campaign(store, str(self.campaign_key))
            self.log.info("Purged campaign %s: %s", self.campaign_key, result.as_dict())
            return result.as_dict()
        days = self.retention_days
        if days in (None, ""):
            days = configured_retention_days()
        if days is None:
            raise ValueError(
                "retention_days is not set: pass it, or set [hbsms] retention_days "
                "(AIRFLOW__HBSMS__RETENTION_DAYS)"
            )
        result = purge_older_than(store, float(days))
        self.log.info("Purged what is older than %s days: %s", days, result.as_dict())
        return result.as_dict()
