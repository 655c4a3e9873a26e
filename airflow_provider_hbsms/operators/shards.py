"""What a sharded campaign's tasks use: evidence for retried shards, and the shards' results
combined into one campaign for the delivery sensor and the loader."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_hbsms.campaign.result import CampaignResult

if TYPE_CHECKING:
    from collections.abc import Iterable

    from airflow.sdk import Context

log = logging.getLogger(__name__)


def pull_reports_before_retry(context: Context) -> None:
    """``on_execute_callback`` for send operators: on a retry, pull the account's delivery
    reports into the store before the send reads its ledger.

    A try that died mid-request (its worker was lost, its connection dropped) leaves a batch
    whose outcome nobody knows. The retry settles it as accepted when a delivery report for
    one of its messages is in the store, and otherwise fails naming it; in pull mode the
    reports are still at the gateway until someone pulls them, so this pulls them first (each
    pull committed to the store, as every collector does). Nothing happens on a first try, or
    when the send's ``hbsms_conn_id`` cannot pull (push mode, where the receiver stores them).
    A failed pull is logged and leaves the decision to the send.

    ``HbSmsPersonalizedSendOperator.partial(..., on_execute_callback=pull_reports_before_retry)``
    """
    ti = context["ti"]
    if getattr(ti, "try_number", 1) <= 1:
        return
    task: Any = context["task"]
    from airflow_provider_hbsms.collector import Collector
    from airflow_provider_hbsms.exceptions import PushOnlyAccountError

    try:
        collector = Collector(task.hook.client, task.store)
        result = collector.drain_reports()
    except PushOnlyAccountError:
        return
    except Exception as exc:  # the send still refuses to guess; it names what stays unknown
        log.warning("Pulling delivery reports before the retry failed: %s", exc)
        return
    log.info("Pulled %d delivery reports (%d new) before the retry", result.received, result.new)


def combine_shard_results(results: Iterable[dict[str, Any] | None]) -> dict[str, Any]:
    """One result for the whole campaign from its shards' send results.

    ``campaign_key`` is the list of the shards' keys, which ``HbSmsDeliveryReportSensor`` and
    the store's summaries take as one campaign; the counts are summed.

    :param results: the mapped send's results (an XComArg of it, resolved).
    """
    return CampaignResult.combine(
        CampaignResult.from_xcom(result) if result else None for result in results
    ).to_xcom()
