"""Pull delivery reports and replies from the gateway into the store."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_hbsms.collector import DEFAULT_WARN_LAG, Collector
from airflow_provider_hbsms.params import (
    DEFAULT_HBSMS_CONN_ID,
    DEFAULT_STORE_CONN_ID,
    GATEWAY_TEMPLATE_FIELDS,
    PULL_KINDS,
    GatewayAccess,
    check_kinds,
)
from airflow_provider_hbsms.store.replay import replay

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import timedelta

    from airflow.sdk import Context


class HbSmsCollectOperator(GatewayAccess, BaseOperator):
    """Drain the gateway's report and reply queues into the store (pull mode).

    Each pulled batch is committed before the next pull; the gateway hands data over once.
    Returns counts per kind (pulls, received, new, opted_out, dead_letters, quarantined), and
    with ``replay=True`` what the replay of dead letters and quarantined items did.

    :param kinds: which queues to drain: ``reports``, ``replies`` (default both; one may be
        given as a string).
    :param max_pulls: at most this many pulls of each kind (default: until the queue is empty).
    :param opt_out_keywords: replies that put their sender on the opt-out list; default
        ``[hbsms] opt_out_keywords``.
    :param max_lag: fail with ``StalePullsError`` when, after this run, the last successful
        pull of a kind is older than this (the gateway moves unpulled data to history after 3
        days); None: no check.
    :param warn_lag: only log a warning when, before a drain, the previous successful pull of
        its kind is older than this (default 12 hours); None: no warning.
    :param replay: first read the dead letters and store the quarantined items of the kinds
        collected again (after a fix), idempotently; the counts are returned under ``replay``.
    """

    template_fields: Sequence[str] = GATEWAY_TEMPLATE_FIELDS

    def __init__(
        self,
        *,
        hbsms_conn_id: str = DEFAULT_HBSMS_CONN_ID,
        store_conn_id: str | None = DEFAULT_STORE_CONN_ID,
        store_url: str | None = None,
        kinds: str | Sequence[str] = PULL_KINDS,
        max_pulls: int | None = None,
        opt_out_keywords: Sequence[str] | None = None,
        max_lag: timedelta | None = None,
        warn_lag: timedelta | None = DEFAULT_WARN_LAG,
        replay: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_access(hbsms_conn_id, store_conn_id, store_url)
        self.kinds = check_kinds(kinds, PULL_KINDS)
        self.max_pulls = max_pulls
        self.opt_out_keywords = opt_out_keywords
        self.max_lag = max_lag
        self.warn_lag = warn_lag
        self.replay = replay

    def execute(self, context: Context) -> dict[str, Any]:
        collector = Collector(
            self.hook.client, self.store, self.opt_out_keywords, self.max_lag, self.warn_lag
        )
        results: dict[str, Any] = {}
        if self.replay:
            done = replay(self.store, list(self.kinds), collector.opt_out_keywords)
            for table, id_, reason in done.still_refused:
                self.log.warning("Still refused: %s #%d: %s", table, id_, reason)
            results["replay"] = done.as_dict()
        drained = collector.drain(self.kinds, self.max_pulls)
        results.update({result.kind: asdict(result) for result in drained})
        self.log.info("Collected: %s", results)
        return results
