"""Planning and sending a campaign, exactly once across task retries.

Two passes over the input: ``plan()`` validates every row (nothing is sent if any row is bad
under ``on_invalid="fail"``), counts messages and billed segments; ``send()`` forms the same
batches again and sends them through the ledger: accepted batches of earlier attempts are
skipped, batches whose outcome is unknown are never resent silently.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_hbsms.campaign.keys import batch_key, content_hash, msg_id_prefix
from airflow_provider_hbsms.campaign.rows import Message, MessageSpec, RowChecker
from airflow_provider_hbsms.protocol.endpoints import MAX_BATCH, Endpoint
from airflow_provider_hbsms.protocol.errors import (
    GatewayError,
    HbSmsError,
    HbSmsValidationError,
    SendOutcomeUnknownError,
    TransportError,
    ValidationProblem,
)
from airflow_provider_hbsms.protocol.forms import build_send_body
from airflow_provider_hbsms.protocol.models import PersonalizedItem, SendResult
from airflow_provider_hbsms.store.ledger import (
    ACCEPTED,
    MAY_HAVE_BEEN_SENT,
    REJECTED,
    UNKNOWN,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from airflow_provider_hbsms.campaign.inputs import RowSource
    from airflow_provider_hbsms.campaign.window import SendWindow
    from airflow_provider_hbsms.client import HbSmsClient
    from airflow_provider_hbsms.store.ledger import SendLedger

log = logging.getLogger(__name__)


class CampaignError(HbSmsError):
    """The campaign could not be (fully) sent; the message says which batches and why."""


class UnknownOutcomeError(CampaignError):
    """Some batches may or may not have reached the gateway; they were not resent.

    :param batches: the batch numbers.
    :param campaign_key: the campaign.
    """

    def __init__(self, campaign_key: str, batches: list[int], reason: str = "") -> None:
        self.campaign_key = campaign_key
        self.batches = batches
        shown = ", ".join(str(b) for b in batches[:20]) + (" ..." if len(batches) > 20 else "")
        super().__init__(
            f"campaign {campaign_key!r}: outcome unknown for batch(es) {shown}: the gateway may "
            f"have accepted them, so they were not resent{': ' + reason if reason else ''}. "
            "Check delivery reports (a report settles a batch as accepted on the next try), "
            "or retry with resend_unknown=True to send them once more."
        )


@dataclass
class CampaignOptions:
    """Campaign-wide choices.

    :param on_invalid: ``fail`` (nothing is sent if any row is invalid) or ``skip``.
    :param dedupe: send a number once per same-content campaign.
    :param opt_outs: numbers to leave out (the store's opt-out list).
    :param batch_size: messages per request (at most 200).
    :param resend_unknown: resend, once, batches whose outcome is unknown.
    :param connections: batches in flight at once.
    :param max_listed_problems: how many invalid rows the error and result list.
    """

    on_invalid: Literal["fail", "skip"] = "fail"
    dedupe: bool = True
    opt_outs: frozenset[str] = frozenset()
    batch_size: int = MAX_BATCH
    resend_unknown: bool = False
    connections: int = 1
    max_listed_problems: int = 20

    def __post_init__(self) -> None:
        if self.on_invalid not in ("fail", "skip"):
            raise ValueError("on_invalid must be 'fail' or 'skip'")
        if not 0 < self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be 1 to {MAX_BATCH}")
        if self.connections < 1:
            raise ValueError("connections must be at least 1")


@dataclass
class Plan:
    """What validation found (pass 1)."""

    rows: int = 0
    valid: int = 0
    invalid: int = 0
    opted_out: int = 0
    duplicates: int = 0
    messages: int = 0
    segments: int = 0
    batches: int = 0
    problems: list[ValidationProblem] = field(default_factory=list)


@dataclass
class Batch:
    """One request's worth of messages."""

    batch_no: int
    messages: list[Message]
    msg_ids: list[str]
    segments: int
    content_hash: str


@dataclass
class SendReport:
    """What sending did (pass 2)."""

    batches_sent: int = 0
    submitted: int = 0
    accepted: int = 0
    dropped: int = 0
    skipped_batches: int = 0
    skipped_messages: int = 0
    segments_sent: int = 0
    resent_batches: int = 0
    unknown_batches: list[int] = field(default_factory=list)
    paused_until: datetime | None = None


class Campaign:
    """A campaign over one input.

    :param key: the campaign key (deterministic per task instance).
    :param spec: how rows become messages.
    :param source: the rows.
    :param options: campaign-wide choices.
    """

    def __init__(
        self, key: str, spec: MessageSpec, source: RowSource, options: CampaignOptions
    ) -> None:
        self.key = key
        self.spec = spec
        self.source = source
        self.options = options
        self.checker = RowChecker(spec)
        self.prefix = msg_id_prefix(key)
        # Validated messages kept from plan() for send(), when the input is in memory anyway;
        # files are read (and validated) again instead.
        self._planned: list[Message] | None = None

    # ------------------------------------------------------------------ pass 1 and 2 share this

    def _messages(self, plan: Plan | None) -> Iterator[Message]:
        """Valid, wanted messages in input order; counts into ``plan`` when given."""
        seen: set[str] = set()
        dedupe = self.options.dedupe and self.spec.kind == "bulk"
        opt_outs = self.options.opt_outs
        first_row = 0
        for chunk in self.source.chunks():
            for item in self.checker.messages(chunk, first_row):
                if isinstance(item, ValidationProblem):
                    if plan is not None:
                        plan.invalid += 1
                        if len(plan.problems) < self.options.max_listed_problems:
                            plan.problems.append(item)
                    continue
                if item.mobile in opt_outs:
                    if plan is not None:
                        plan.opted_out += 1
                    continue
                if dedupe:
                    if item.mobile in seen:
                        if plan is not None:
                            plan.duplicates += 1
                        continue
                    seen.add(item.mobile)
                yield item
            first_row += len(chunk)
        if plan is not None:
            plan.rows = first_row

    def plan(self) -> Plan:
        """Validate every row and count what would be sent; sends nothing."""
        plan = Plan()
        keep: list[Message] | None = [] if self.source.in_memory else None
        for message in self._messages(plan):
            plan.messages += 1
            plan.segments += message.segments
            if keep is not None:
                keep.append(message)
        self._planned = keep
        plan.valid = plan.rows - plan.invalid
        plan.batches = -(-plan.messages // self.options.batch_size)
        return plan

    def raise_if_invalid(self, plan: Plan) -> None:
        if plan.invalid and self.options.on_invalid == "fail":
            raise HbSmsValidationError(plan.problems, total=plan.invalid)

    def batches(self) -> Iterator[Batch]:
        """The campaign's batches, the same on every pass and every retry."""
        size = self.options.batch_size
        current: list[Message] = []
        batch_no = 0
        messages = self._planned if self._planned is not None else self._messages(None)
        for message in messages:
            current.append(message)
            if len(current) == size:
                yield self._batch(batch_no, current)
                batch_no += 1
                current = []
        if current:
            yield self._batch(batch_no, current)

    def _batch(self, batch_no: int, messages: list[Message]) -> Batch:
        if self.spec.kind == "bulk":
            corp_msg_id = f"{self.prefix}-{batch_no}"
            msg_ids = [corp_msg_id] * len(messages)
            parts = [m.mobile for m in messages] + [self.spec.content or "", self.spec.ext]
        else:
            msg_ids = [m.msg_id or f"{self.prefix}-{m.row}" for m in messages]
            parts = [
                f"{m.mobile}|{i}|{m.ext}|{m.content}"
                for m, i in zip(messages, msg_ids, strict=True)
            ]
        segments = sum(m.segments for m in messages)
        return Batch(batch_no, messages, msg_ids, segments, content_hash(parts))

    # ------------------------------------------------------------------ sending

    def send(
        self,
        client: HbSmsClient,
        ledger: SendLedger,
        window: SendWindow | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        total_batches: int | None = None,
    ) -> SendReport:
        """Send every batch not yet accepted, in order, through the ledger.

        Stops at the first batch whose outcome is unknown or that the gateway refuses; pauses
        (``paused_until``) when the send window closes.

        :raises UnknownOutcomeError: batches may have been sent; they were not resent.
        :raises CampaignError: the gateway refused a batch (the error says which and why).
        """
        report = SendReport()
        progress = _Progress(self.key, total_batches)

        pool = ThreadPoolExecutor(self.options.connections, thread_name_prefix="hbsms-send")
        in_flight: dict[Future[SendResult], Batch] = {}
        failure: BaseException | None = None
        try:
            for batch in self.batches():
                if window is not None and not window.is_open(clock()):
                    report.paused_until = window.next_open(clock())
                    log.info("Send window %s closed: pausing", window.describe())
                    break
                # Claiming (a committed ledger write) overlaps the requests in flight.
                if not self._ready_to_send(batch, ledger, report):
                    continue
                while len(in_flight) >= self.options.connections and failure is None:
                    failure = self._collect(in_flight, report, progress)
                if failure is not None:
                    # Claimed but never sent: settle it so a retry does not think it may be.
                    ledger.settle(batch_key(self.key, batch.batch_no), REJECTED, error="not sent")
                    break
                ready = threading.Event()
                in_flight[pool.submit(self._send_batch, batch, client, ledger, ready)] = batch
                # Let the sender build its body and post before this thread prepares the next
                # batch: both need the GIL, and a sender kept waiting delays every request.
                ready.wait()
            while in_flight and failure is None:
                failure = self._collect(in_flight, report, progress) or failure
            while in_flight:  # after a failure: let requests already sent finish
                self._collect(in_flight, report, progress)
        finally:
            pool.shutdown(wait=True)
        if failure is not None:
            raise failure
        if report.unknown_batches:
            raise UnknownOutcomeError(self.key, sorted(report.unknown_batches))
        return report

    def _collect(
        self, in_flight: dict[Future[SendResult], Batch], report: SendReport, progress: _Progress
    ) -> BaseException | None:
        """Wait for a batch to finish; count it (here, in one thread) or return its error."""
        done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
        failure = None
        for future in done:
            batch = in_flight.pop(future)
            error = future.exception()
            if error is not None:
                if isinstance(error, UnknownOutcomeError):
                    report.unknown_batches.append(batch.batch_no)
                failure = failure or error
                continue
            result = future.result()
            report.batches_sent += 1
            report.submitted += result.submitted
            report.accepted += result.accepted
            report.dropped += result.dropped
            report.segments_sent += batch.segments
            progress.tick(report)
        return failure

    def _ready_to_send(self, batch: Batch, ledger: SendLedger, report: SendReport) -> bool:
        """Claim the batch in the ledger; False (and counted) when it must not be sent."""
        claim = ledger.claim(
            batch_key=batch_key(self.key, batch.batch_no),
            campaign_key=self.key,
            batch_no=batch.batch_no,
            endpoint=(
                Endpoint.SEND if self.spec.kind == "bulk" else Endpoint.PERSONALIZED_SEND
            ).path,
            content_hash=batch.content_hash,
            submitted=len(batch.messages),
            segments=batch.segments,
            messages=[
                {"msg_id": i, "mobile": m.mobile, "ext": m.ext, "segments": m.segments}
                for m, i in zip(batch.messages, batch.msg_ids, strict=True)
            ],
            resend=self.options.resend_unknown,
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
                f"campaign {self.key!r}: batch {batch.batch_no} differs from what an earlier "
                "attempt sent (the input changed between tries); nothing more was sent. Use a "
                "new campaign key for a new input."
            )
        if existing.state == ACCEPTED or (
            existing.state in MAY_HAVE_BEEN_SENT
            and ledger.reconcile_from_reports(existing.batch_key, self.key)
        ):
            report.skipped_batches += 1
            report.skipped_messages += existing.submitted
            report.accepted += existing.accepted or existing.submitted
            return False
        report.unknown_batches.append(batch.batch_no)
        return False

    def _send_batch(
        self, batch: Batch, client: HbSmsClient, ledger: SendLedger, ready: threading.Event
    ) -> SendResult:
        key = batch_key(self.key, batch.batch_no)
        try:
            try:
                if self.spec.kind == "bulk":
                    body = build_send_body(
                        client.credentials,
                        [m.mobile for m in batch.messages],
                        self.spec.content or "",
                        batch.msg_ids[0],
                        self.spec.ext,
                        channel_number=client.channel_number,
                    )
                    endpoint = Endpoint.SEND
                else:
                    body = client.personalized_body(
                        [
                            PersonalizedItem(m.mobile, i, m.content, m.ext)
                            for m, i in zip(batch.messages, batch.msg_ids, strict=True)
                        ]
                    )
                    endpoint = Endpoint.PERSONALIZED_SEND
            finally:
                ready.set()  # the request is about to leave: the main thread may work now
            result = client.send_body(endpoint, body, len(batch.messages), batch.msg_ids[0])
        except SendOutcomeUnknownError as exc:
            ledger.settle(key, UNKNOWN, error=str(exc))
            raise UnknownOutcomeError(self.key, [batch.batch_no], str(exc)) from None
        except (GatewayError, TransportError) as exc:
            ledger.settle(key, REJECTED, error=str(exc))
            raise CampaignError(
                f"campaign {self.key!r}: batch {batch.batch_no} was not accepted: {exc}"
            ) from exc
        except HbSmsValidationError as exc:
            ledger.settle(key, REJECTED, error=str(exc))
            raise
        ledger.settle(key, ACCEPTED, accepted=result.accepted)
        return result


class _Progress:
    """Logs batches done / total and the rate, at most every 10 seconds."""

    def __init__(self, key: str, total: int | None) -> None:
        self.key = key
        self.total = total
        self.started = self.last = time.monotonic()

    def tick(self, report: SendReport) -> None:
        now = time.monotonic()
        if now - self.last < 10:
            return
        self.last = now
        rate = report.submitted / max(now - self.started, 1e-9)
        total = f"/{self.total}" if self.total else ""
        log.info(
            "Campaign %s: %d%s batches sent, %d messages, %.0f messages/s",
            self.key,
            report.batches_sent,
            total,
            report.submitted,
            rate,
        )


def summarize(plan: Plan, report: SendReport | None, key: str) -> dict[str, Any]:
    """The small result dict the operators return (and push to XCom)."""
    result: dict[str, Any] = {
        "campaign_key": key,
        "rows": plan.rows,
        "valid": plan.valid,
        "invalid": plan.invalid,
        "opted_out": plan.opted_out,
        "duplicates": plan.duplicates,
        "messages": plan.messages,
        "batches": plan.batches,
        "billed_segments": plan.segments,
    }
    if report is not None:
        result.update(
            submitted=report.submitted,
            accepted=report.accepted,
            dropped_by_gateway=report.dropped,
            skipped_already_sent=report.skipped_messages,
            skipped_batches=report.skipped_batches,
            resent_batches=report.resent_batches,
            segments_sent=report.segments_sent,
        )
    if plan.problems:
        result["invalid_rows"] = [p.describe() for p in plan.problems]
    return result
