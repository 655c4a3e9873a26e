"""Planning and sending a campaign, exactly once across task retries.

Two passes over the input: ``plan()`` validates every row (nothing is sent if any row is bad
under ``on_invalid="fail"``), counts messages and billed segments; ``send()`` forms the same
batches again and sends them through the ledger: accepted batches of earlier attempts are
skipped, batches whose outcome is unknown are never resent silently.

The jobs live in their own modules: ``spec`` (one strategy per kind of campaign), ``rows``
(validation), ``plan`` (counting and batching), ``sender`` (the send loop and the ledger),
``progress``, ``result`` (the XCom value), ``cost`` and ``rejects``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from airflow_provider_hbsms.campaign.plan import Planner
from airflow_provider_hbsms.campaign.sender import Sender

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_hbsms.campaign.progress import SendReport
    from airflow_provider_hbsms.campaign.window import SendWindow
    from airflow_provider_hbsms.client import HbSmsClient
    from airflow_provider_hbsms.store.ledger import SendLedger


class Campaign(Planner):
    """A campaign over one input: ``plan()``, then ``send()``.

    :param key: the campaign key (deterministic per task instance).
    :param spec: how rows become messages.
    :param source: the rows.
    :param options: campaign-wide choices.
    """

    def send(
        self,
        client: HbSmsClient,
        ledger: SendLedger,
        window: SendWindow | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        total_batches: int | None = None,
    ) -> SendReport:
        """Send every batch not yet accepted, in order, through the ledger (``Sender.send``).

        :raises UnsettledBatchesError: batches may have been sent; they were not resent.
        :raises CampaignError: the gateway refused a batch (the error says which and why).
        """
        return Sender(self).send(client, ledger, window, clock, total_batches)
