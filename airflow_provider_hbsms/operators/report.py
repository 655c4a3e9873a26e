"""Write a campaign's report as files: a self-contained HTML page and a PNG of the funnel."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_hbsms.params import DEFAULT_STORE_CONN_ID, STORE_TEMPLATE_FIELDS, StoreAccess
from airflow_provider_hbsms.ui import queries
from airflow_provider_hbsms.ui.report import write_report
from airflow_provider_hbsms.waiting import campaign_key_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context


class HbSmsCampaignReportOperator(StoreAccess, BaseOperator):
    """Write the campaign view as files, for readers without the Airflow UI plugin.

    The HTML page holds the funnel (rows, valid, sent, accepted, delivered), failures by
    reason, pending messages, batches of unknown outcome, delivery over time, replies and
    opt-outs, with its charting library inlined: it opens offline in any browser. The PNG
    (with the ``report`` extra, matplotlib) shows the funnel alone. Returns (and pushes to
    XCom) ``{"html": path, "png": path or None, "campaigns": [counts, ...]}``.

    :param campaign_key: the campaign's key, the send operator's result (an XComArg works),
        or a list of either; default: every campaign of this DAG run. (templated)
    :param output_dir: the folder to write into (local path); default
        ``$AIRFLOW_HOME/hbsms_reports/<dag_id>/<run_id>``. (templated)
    :param png: also draw the PNG (skipped, with a log line, when matplotlib is missing).
    """

    template_fields: Sequence[str] = ("campaign_key", "output_dir", *STORE_TEMPLATE_FIELDS)
    ui_color = "#e8eef4"

    def __init__(
        self,
        *,
        campaign_key: Any = None,
        output_dir: str | os.PathLike[str] | None = None,
        png: bool = True,
        store_conn_id: str | None = DEFAULT_STORE_CONN_ID,
        store_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.campaign_key = campaign_key
        self.output_dir = output_dir
        self.png = png
        self._set_store(store_conn_id, store_url)

    def _keys(self, context: Context) -> list[str]:
        given = self.campaign_key
        if given:
            items = given if isinstance(given, list | tuple) else [given]
            return [k for k in (campaign_key_of(item) for item in items) if k]
        ti = context["ti"]
        return queries.campaigns_of_run(self.store, ti.dag_id, ti.run_id)

    def _directory(self, context: Context) -> Path:
        if self.output_dir:
            return Path(self.output_dir)
        ti = context["ti"]
        home = os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow")
        run = re.sub(r"[^A-Za-z0-9._-]+", "_", ti.run_id)
        return Path(home) / "hbsms_reports" / ti.dag_id / run

    def execute(self, context: Context) -> dict[str, Any]:
        keys = self._keys(context)
        store = self.store
        stem = _stem(keys, context["ti"])
        files = write_report(store, keys, self._directory(context), stem=stem, png=self.png)
        for funnel in files.funnels:
            self.log.info(
                "%d sent, %d accepted, %d delivered, %d failed, %d pending, %d replies, "
                "%d opt-outs: %s",
                funnel.sent,
                funnel.accepted,
                funnel.delivered,
                funnel.failed,
                funnel.pending,
                funnel.replies,
                funnel.opt_outs,
                funnel.campaign_key,
            )
        self.log.info("Campaign report: %s", files.html)
        if files.png is not None:
            self.log.info("Funnel image: %s", files.png)
        elif self.png:
            self.log.info("No funnel image: install the report extra (matplotlib) for one")
        return {
            "html": str(files.html),
            "png": str(files.png) if files.png else None,
            "campaigns": [
                {k: v for k, v in f.as_dict().items() if k not in ("started_at", "updated_at")}
                for f in files.funnels
            ],
        }


def _stem(keys: list[str], ti: Any) -> str | None:
    """The send task's id (and map index) for a default key of this run, as the files'
    name (the folder names the DAG and run already); else the default from the key."""
    if len(keys) != 1:
        return "campaigns" if keys else None
    parts = keys[0].split("/")
    if len(parts) >= 3 and parts[0] == ti.dag_id and parts[2] == ti.run_id:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join([parts[1], *parts[3:]]))
    return None
