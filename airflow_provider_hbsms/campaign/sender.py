"""Sending a campaign's batches exactly once across task retries, through the send ledger.

Accepted batches of earlier tries are skipped; batches whose outcome is unknown are never
resent silently; a batch another live try is sending is waited for.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_hbsms.campaign.lanes import NotPosted, Outcome, SendLanes
from airflow_provider_hbsms.campaign.progress import Progress, SendReport
from airflow_provider_hbsms.campaign.storecalls import SETTLE_RECONNECTS, StoreCalls
from airflow_provider_hbsms.exceptions import (
    CampaignError,
    GatewayError,
    HbSmsError,
    RequestNotSentError,
    SendOutcomeUnknownError,
    UnsettledBatchesError,
)
from airflow_provider_hbsms.protocol.models import SendResult
from airflow_provider_hbsms.store.batch_states import (
    ACCEPTED,
    MAY_HAVE_BEEN_SENT,
    PENDING,
    REJECTED,
    UNKNOWN,
)
from airflow_provider_hbsms.store.ledger import Settlement
from airflow_provider_hbsms.store.sent import SentColumns

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from airflow_provider_hbsms.campaign.plan import Batch, Planner
    from airflow_provider_hbsms.campaign.window import SendWindow
    from airflow_provider_hbsms.client import HbSmsClient
    from airflow_provider_hbsms.protocol.endpoints import Endpoint
    from airflow_provider_hbsms.store.leases import Lease
    from airflow_provider_hbsms.store.ledger import LedgerBatch, SendLedger

log = logging.getLogger(__name__)


class Sender:
    """Sends a planned campaign's batches.

    :param campaign: the campaign (its key, options and batches).
    """

    def __init__(self, campaign: Planner) -> None:
        self.campaign = campaign

    def _body(self, batch: Batch, client: HbSmsClient) -> tuple[Endpoint, bytes]:
        """The request of a batch whose rows the RowChecker validated already."""
        rules = self.campaign.rules
        body = rules.body(
            self.campaign.spec, client.credentials, batch.messages, batch.msg_ids, batch.wire
        )
        return rules.endpoint, body

    def _prepare(self, batch: Batch, client: HbSmsClient) -> tuple[Endpoint, bytes] | Exception:
        """The batch's request, or what building it raised (acted on once it is claimed)."""
        try:
            return self._body(batch, client)
        except Exception as exc:
            return exc

    def send(
        self,
        client: HbSmsClient,
        ledger: SendLedger,
        window: SendWindow | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        total_batches: int | None = None,
    ) -> SendReport:
        """Send every batch not yet accepted, in order, through the ledger.

        This thread forms each batch and builds its body while ``connections`` lanes post
        the bodies before; it claims the batch (a committed ledger write) only once a lane
        can take it (at most one claimed batch waits per lane), and settles what the lanes
        report. Stops at the first batch
        whose outcome is unknown or that the gateway refuses; pauses (``paused_until``) when
        the send window closes.

        :raises UnsettledBatchesError: batches may have been sent; they were not resent.
        :raises CampaignError: the gateway refused a batch (the error says which and why).
        """
        report = SendReport()
        progress = Progress(self.campaign.key, total_batches)
        store = StoreCalls(
            self.campaign.key, ledger.engine.url.render_as_string(hide_password=True)
        )
        lease = ledger.lease(self.campaign.key, self.campaign.options.lease_ttl)
        store.run("starting the send lease", lease.__enter__)
        lanes: SendLanes[Batch] = SendLanes(client, self.campaign.options.connections)
        failures: list[BaseException] = []
        # Outcomes counted but not yet written: they ride along in the next claim's
        # transaction (one commit per batch instead of two).
        unsettled: list[Settlement] = []

        def settle_finished() -> None:
            """While waiting on another try: record what our own lanes finished meanwhile
            (that try may be waiting on those)."""
            nonlocal unsettled
            done = self._account(lanes.finished(), report, progress, failures)
            try:
                store.run("recording sent batches", lambda: ledger.settle_many(done))
            except BaseException:
                unsettled += done  # recorded (or named unrecorded) on the way out
                raise

        try:
            for batch in self.campaign.batches():
                # Built while the lanes post; claimed only once a lane can take it (free, or
                # posting its last): at most one claimed batch waits per lane, so a process
                # killed mid-send leaves at most that many claimed but never posted, while
                # the claim's commit still overlaps the lanes' round trips.
                prepared = self._prepare(batch, client)
                lanes.wait_for_room()
                unsettled += self._account(lanes.finished(), report, progress, failures)
                if lanes.failed or failures:
                    break
                if window is not None and not window.is_open(clock()):
                    report.paused_until = window.next_open(clock())
                    log.info("Send window %s closed: pausing", window.describe())
                    break
                ready = self._ready_to_send(
                    batch, ledger, report, unsettled, lease, store, settle_finished
                )
                unsettled = []
                if not ready:
                    continue
                if isinstance(prepared, Exception):
                    exc = prepared
                    # Claimed, certainly not sent: settled so a retry sends it.
                    refused = Settlement(batch.key, REJECTED, error=str(exc))
                    store.run(
                        f"recording batch {batch.batch_no}",
                        lambda refused=refused: ledger.settle_many([refused]),  # type: ignore[misc]
                    )
                    if not isinstance(exc, HbSmsError):
                        raise exc
                    failures.append(exc)
                    break
                endpoint, body = prepared
                lanes.submit(batch, endpoint, body, len(batch.messages), batch.msg_ids[0])
        finally:
            # Requests already posted are answered and settled before anything is raised.
            unsettled += self._account(list(lanes.drain()), report, progress, failures)
            lanes.close()
            posted = {s.batch_key for s in unsettled if s.state != REJECTED}
            try:
                store.run(
                    "recording sent batches",
                    lambda: ledger.settle_many(unsettled),
                    SETTLE_RECONNECTS,
                    lambda: sorted(b.batch_no for b in self._posted(posted)),
                )
            finally:
                lease.__exit__(None, None, None)
        if failures:
            raise failures[0]
        if report.unknown_batches:
            raise UnsettledBatchesError(self.campaign.key, sorted(report.unknown_batches))
        return report

    def _posted(self, keys: set[str]) -> Iterator[Batch]:
        """The batches with these ledger keys (for naming them in an error)."""
        if keys:
            for batch in self.campaign.batches():
                if batch.key in keys:
                    yield batch

    def _account(
        self,
        outcomes: list[Outcome[Batch]],
        report: SendReport,
        progress: Progress,
        failures: list[BaseException],
    ) -> list[Settlement]:
        """Count what the lanes report; return what the ledger must record for it."""
        settled: list[Settlement] = []
        for outcome in outcomes:
            batch, result = outcome.tag, outcome.result
            key = batch.key
            if isinstance(result, SendResult):
                settled.append(Settlement(key, ACCEPTED, accepted=result.accepted))
                report.batches_sent += 1
                report.submitted += result.submitted
                report.accepted += result.accepted
                report.dropped += result.dropped
                report.segments_sent += batch.segments
                progress.tick(report)
            elif isinstance(result, NotPosted):
                # Claimed but never posted: settled so a retry does not think it may be sent.
                settled.append(Settlement(key, REJECTED, error="not sent"))
            elif isinstance(result, SendOutcomeUnknownError):
                settled.append(Settlement(key, UNKNOWN, error=str(result)))
                report.unknown_batches.append(batch.batch_no)
                failures.append(
                    UnsettledBatchesError(self.campaign.key, [batch.batch_no], str(result))
                )
            elif isinstance(result, GatewayError | RequestNotSentError):
                settled.append(Settlement(key, REJECTED, error=str(result)))
                error = CampaignError(
                    f"campaign {self.campaign.key!r}: batch {batch.batch_no} was not accepted: "
                    f"{result}"
                )
                error.__cause__ = result
                failures.append(error)
            else:
                # Anything else leaves the outcome open: never resent silently.
                settled.append(Settlement(key, UNKNOWN, error=repr(result)))
                report.unknown_batches.append(batch.batch_no)
                failures.append(result)
        return settled

    def _ready_to_send(
        self,
        batch: Batch,
        ledger: SendLedger,
        report: SendReport,
        settle: list[Settlement],
        lease: Lease,
        store: StoreCalls,
        meanwhile: Callable[[], None],
    ) -> bool:
        """Claim the batch in the ledger (writing ``settle`` first, in the same transaction);
        False (and counted) when it must not be sent. A batch another live try holds is
        waited for; if that try's claim lost it, it is claimed once more."""
        claim = store.run(
            f"claiming batch {batch.batch_no}", lambda: self._claim(batch, ledger, settle, lease)
        )
        existing = claim.existing
        if claim.granted:
            if existing is not None and existing.state in MAY_HAVE_BEEN_SENT:
                report.resent_batches += 1
                log.warning("Resending batch %d (outcome was unknown)", batch.batch_no)
            return True
        assert existing is not None
        if existing.content_hash != batch.content_hash:
            raise CampaignError(
                f"campaign {self.campaign.key!r}: batch {batch.batch_no} differs from what an "
                "earlier attempt sent (the input changed between tries); nothing more was sent. "
                "Use a new campaign key for a new input."
            )
        if existing.state == PENDING:
            existing = self._wait_for_other_try(
                batch, ledger, lease, store, meanwhile, existing, report
            )
            if existing.state == REJECTED:  # that try did not get it out: ours to send
                return self._ready_to_send(batch, ledger, report, [], lease, store, meanwhile)
        if existing.state == ACCEPTED or (
            existing.state in MAY_HAVE_BEEN_SENT
            and store.run(
                f"checking batch {batch.batch_no} against delivery reports",
                lambda: ledger.reconcile_from_reports(existing.batch_key, self.campaign.key),
            )
        ):
            report.skipped_batches += 1
            report.skipped_messages += existing.submitted
            report.accepted += existing.accepted or existing.submitted
            return False
        report.unknown_batches.append(batch.batch_no)
        return False

    def _claim(
        self, batch: Batch, ledger: SendLedger, settle: list[Settlement], lease: Lease
    ) -> Any:
        return ledger.claim(
            batch_key=batch.key,
            campaign_key=self.campaign.key,
            batch_no=batch.batch_no,
            endpoint=self.campaign.rules.endpoint.path,
            content_hash=batch.content_hash,
            submitted=len(batch.messages),
            segments=batch.segments,
            messages=SentColumns(
                batch.msg_ids,
                batch.messages.mobiles,
                batch.messages.exts,
                batch.messages.segments,
            ),
            resend=self.campaign.options.resend_unknown,
            settle=settle,
            owner=lease.owner,
        )

    def _wait_for_other_try(
        self,
        batch: Batch,
        ledger: SendLedger,
        lease: Lease,
        store: StoreCalls,
        meanwhile: Callable[[], None],
        existing: LedgerBatch,
        report: SendReport,
    ) -> LedgerBatch:
        """Wait, at most ``wait_for_other_try`` seconds, while a live try (a fresh lease
        other than ours) holds this batch pending; the batch as it then stands."""
        ttl, bound = self.campaign.options.lease_ttl, self.campaign.options.wait_for_other_try
        deadline = time.monotonic() + bound
        logged = False
        pause = 0.05
        while existing.state == PENDING and time.monotonic() < deadline:
            holder = store.run(
                f"checking who holds batch {batch.batch_no}", lambda: ledger.holder(batch.key)
            )
            if holder is None or holder.owner == lease.owner or not holder.is_fresh(ttl):
                break
            if not logged:
                report.waited_batches += 1
                log.info(
                    "Campaign %s: batch %d is being sent by another live try; waiting up to "
                    "%.0f s for its outcome",
                    self.campaign.key,
                    batch.batch_no,
                    bound,
                )
                logged = True
            meanwhile()
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
            found = store.run(f"reading batch {batch.batch_no}", lambda: ledger.batch(batch.key))
            existing = found or existing
        return existing
