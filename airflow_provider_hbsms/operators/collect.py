"""Pull delivery reports and replies from the gateway into the store."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_hbsms.collector import Collector
from airflow_provider_hbsms.hooks.hbsms import HbSmsHook
from airflow_provider_hbsms.store import open_store
from airflow_provider_hbsms.store.replay import replay
from airflow_provider_hbsms.store.replies import DEFAULT_OPT_OUT_KEYWORDS

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import timedelta

    from airflow.sdk import Context


class HbSmsCollectOperator(BaseOperator):
    """Drain the gateway's report and reply queues into the store (pull mode).

    Each pulled batch is committed before the next pull; the gateway hands data over once.
    Returns counts per kind (pulls, received, new, opted_out, dead_letters, quarantined), and
    with ``replay=True`` what the replay of dead letters and quarantined items did.

    :param hbsms_conn_id: the ``hbsms`` connection. (templated)
    :param store_conn_id: connection of the store database.
    :param store_url: or its SQLAlchemy URL.
    :param reports: pull delivery reports.
    :param replies: pull replies.
    :param max_pulls: at most this many pulls of each kind (default: until the queue is empty).
    :param opt_out_keywords: replies that put their sender on the opt-out list.
    :param max_lag: fail when, after this run, the last successful pull of a kind is older than
        this (the gateway moves unpulled data to history after 3 days); None: no check.
    :param replay: first read the dead letters and store the quarantined items of the kinds
        collected again (after a fix), idempotently; the counts are returned under ``replay``.
    """

    template_fields: Sequence[str] = ("hbsms_conn_id",)

    def __init__(
        self,
        *,
        hbsms_conn_id: str = HbSmsHook.default_conn_name,
        store_conn_id: str | None = None,
        store_url: str | None = None,
        reports: bool = True,
        replies: bool = True,
        max_pulls: int | None = None,
        opt_out_keywords: Sequence[str] | None = None,
        max_lag: timedelta | None = None,
        replay: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.hbsms_conn_id = hbsms_conn_id
        self.store_conn_id = store_conn_id
        self.store_url = store_url
        self.reports = reports
        self.replies = replies
        self.max_pulls = max_pulls
        self.opt_out_keywords = opt_out_keywords
        self.max_lag = max_lag
        self.replay = replay

    def execute(self, context: Context) -> dict[str, Any]:
        store = open_store(url=self.store_url, conn_id=self.store_conn_id)
        client = HbSmsHook(self.hbsms_conn_id).client
        collector = Collector(client, store, self.opt_out_keywords)
        results: dict[str, Any] = {}
        if self.replay:
            kinds = [
                k for k, wanted in (("reports", self.reports), ("replies", self.replies)) if wanted
            ]
            keywords = self.opt_out_keywords or DEFAULT_OPT_OUT_KEYWORDS
            done = replay(store, kinds, keywords)
            for table, id_, reason in done.still_refused:
                self.log.warning("Still refused: %s #%d: %s", table, id_, reason)
            results["replay"] = done.as_dict()
        if self.reports:
            results["reports"] = asdict(collector.drain_reports(self.max_pulls))
        if self.replies:
            results["replies"] = asdict(collector.drain_replies(self.max_pulls))
        if self.max_lag is not None:
            for kind in (k for k in results if k != "replay"):
                store.pulls.check_fresh(collector.corp_id, kind, self.max_lag)
        self.log.info("Collected: %s", results)
        return results
