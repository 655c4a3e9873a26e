"""Planning and sending a campaign, exactly once across task retries.

Two passes over the input: ``plan()`` validates every row (nothing is sent if any row is bad
under ``on_invalid="fail"``), counts messages and billed segments; ``send()`` forms the same
batches again and sends them through the ledger: accepted batches of earlier attempts are
skipped, batches whose outcome is unknown are never resent silently.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sqlalchemy.exc import DBAPIError

from airflow_provider_hbsms.campaign.keys import batch_key, content_hash, msg_id_prefix
from airflow_provider_hbsms.campaign.lanes import NotPosted, Outcome, SendLanes
from airflow_provider_hbsms.campaign.messages import Messages
from airflow_provider_hbsms.campaign.rows import MessageSpec, RowChecker
from airflow_provider_hbsms.exceptions import (
    CampaignError,
    GatewayError,
    HbSmsError,
    HbSmsValidationError,
    RequestNotSentError,
    SendOutcomeUnknownError,
    StoreUnavailableError,
    UnsettledBatchesError,
    ValidationProblem,
)
from airflow_provider_hbsms.protocol.endpoints import MAX_BATCH, WIRE_ENCODING, Endpoint
from airflow_provider_hbsms.protocol.forms import (
    build_send_body,
    join_send_param_columns,
    personalized_body,
)
from airflow_provider_hbsms.protocol.models import SendResult
from airflow_provider_hbsms.store.ledger import (
    ACCEPTED,
    LEASE_TTL,
    MAY_HAVE_BEEN_SENT,
    PENDING,
    REJECTED,
    UNKNOWN,
    Settlement,
)
from airflow_provider_hbsms.store.sent import SentColumns

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from airflow_provider_hbsms.campaign.inputs import RowSource
    from airflow_provider_hbsms.campaign.window import SendWindow
    from airflow_provider_hbsms.client import HbSmsClient
    from airflow_provider_hbsms.store.ledger import Lease, LedgerBatch, SendLedger

log = logging.getLogger(__name__)


def is_store_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the store's connection failed (rather than a statement)."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if isinstance(exc.orig, BaseException) else exc
    kind, module = type(exc).__name__, type(exc).__module__.split(".")[0]
    if kind not in ("OperationalError", "InterfaceError"):
        return False
    if module == "sqlite3":  # which also reports bad statements as OperationalError
        return any(s in str(exc) for s in ("locked", "unable to open", "disk I/O", "busy"))
    return module in ("psycopg2", "sqlalchemy")


T = TypeVar("T")

#: Pauses before each reconnect while claiming (about 7 s in all), and while recording what
#: was sent (about 30 s: recording it is what lets a retry skip it).
CLAIM_RECONNECTS = (0.5, 1.0, 2.0, 4.0)
SETTLE_RECONNECTS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)


class StoreCalls:
    """Runs the campaign's store calls, reconnecting a bounded number of times when the
    connection fails. Only calls safe to run twice go through here: reads, settlements
    (idempotent) and claims (a claim whose commit was lost is recognised as this try's own).

    :param campaign_key: the campaign, for the error.
    :param store: the store's URL, password hidden.
    """

    def __init__(self, campaign_key: str, store: str) -> None:
        self.campaign_key = campaign_key
        self.store = store

    def run(
        self,
        action: str,
        call: Callable[[], T],
        pauses: Sequence[float] = CLAIM_RECONNECTS,
        unrecorded: Callable[[], Sequence[int]] = lambda: (),
    ) -> T:
        started = time.monotonic()
        for attempt, pause in enumerate([*pauses, None], start=1):
            try:
                return call()
            except Exception as exc:
                if not is_store_outage(exc):
                    raise
                if pause is None:
                    raise StoreUnavailableError(
                        self.campaign_key,
                        action,
                        self.store,
                        type(getattr(exc, "orig", None) or exc).__name__,
                        attempt,
                        time.monotonic() - started,
                        unrecorded(),
                    ) from None
                log.warning(
                    "Campaign %s: the store was unreachable while %s (%s); reconnecting in %.1f s",
                    self.campaign_key,
                    action,
                    type(getattr(exc, "orig", None) or exc).__name__,
                    pause,
                )
                time.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover


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
    :param lease_ttl: seconds a try may go without renewing its lease before another try
        takes it for gone (it renews every quarter of that).
    :param wait_for_other_try: at most how many seconds to wait for a batch that another,
        live try of the campaign is sending to settle, before calling its outcome unknown.
    """

    on_invalid: Literal["fail", "skip"] = "fail"
    dedupe: bool = True
    opt_outs: frozenset[str] = frozenset()
    batch_size: int = MAX_BATCH
    resend_unknown: bool = False
    connections: int = 1
    max_listed_problems: int = 20
    lease_ttl: float = LEASE_TTL
    wait_for_other_try: float = 600.0

    def __post_init__(self) -> None:
        if self.on_invalid not in ("fail", "skip"):
            raise ValueError("on_invalid must be 'fail' or 'skip'")
        if not 0 < self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be 1 to {MAX_BATCH}")
        if self.connections < 1:
            raise ValueError("connections must be at least 1")
        if self.lease_ttl <= 0 or self.wait_for_other_try < 0:
            raise ValueError("lease_ttl must be positive and wait_for_other_try not negative")


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
    #: the ledger's key of the batch.
    key: str
    messages: Messages
    msg_ids: list[str]
    segments: int
    content_hash: str
    #: the batch as it goes on the wire (personalized: the GBK ``send_param``).
    wire: bytes


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
    #: batches another live try was sending, waited for rather than called unknown.
    waited_batches: int = 0
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
        self._planned: list[Messages] | None = None

    # ------------------------------------------------------------------ pass 1 and 2 share this

    def _valid_chunks(self, plan: Plan | None) -> Iterator[Messages]:
        """Valid, wanted messages in input order, chunk by chunk; counts into ``plan``."""
        seen: set[str] = set()
        dedupe = self.options.dedupe and self.spec.kind == "bulk"
        opt_outs = self.options.opt_outs
        first_row = 0
        for chunk in self.source.chunks():
            valid, problems = self.checker.check(chunk, first_row)
            first_row += len(chunk)
            if plan is not None and problems:
                plan.invalid += len(problems)
                room = self.options.max_listed_problems - len(plan.problems)
                plan.problems.extend(problems[: max(room, 0)])
            if opt_outs:
                valid, dropped = _kept(valid, [m not in opt_outs for m in valid.mobile_list()])
                if plan is not None:
                    plan.opted_out += dropped
            if dedupe:
                first = []
                for mobile in valid.mobile_list():
                    first.append(mobile not in seen)
                    seen.add(mobile)
                valid, dropped = _kept(valid, first)
                if plan is not None:
                    plan.duplicates += dropped
            if len(valid):
                yield valid
        if plan is not None:
            plan.rows = first_row

    def plan(self) -> Plan:
        """Validate every row and count what would be sent; sends nothing."""
        plan = Plan()
        keep: list[Messages] | None = [] if self.source.in_memory else None
        for valid in self._valid_chunks(plan):
            plan.messages += len(valid)
            plan.segments += valid.total_segments()
            if keep is not None:
                keep.append(valid)
        self._planned = keep
        plan.valid = plan.rows - plan.invalid
        plan.batches = -(-plan.messages // self.options.batch_size)
        return plan

    def problems(self) -> Iterator[ValidationProblem]:
        """Every invalid row's problem, in row order (another pass over the input)."""
        first_row = 0
        for chunk in self.source.chunks():
            for item in self.checker.messages(chunk, first_row):
                if isinstance(item, ValidationProblem):
                    yield item
            first_row += len(chunk)

    def raise_if_invalid(self, plan: Plan) -> None:
        if plan.invalid and self.options.on_invalid == "fail":
            raise HbSmsValidationError(plan.problems, total=plan.invalid)

    def batches(self) -> Iterator[Batch]:
        """The campaign's batches, the same on every pass and every retry."""
        size = self.options.batch_size
        parts: list[Messages] = []
        held = 0
        batch_no = 0
        chunks = self._planned if self._planned is not None else self._valid_chunks(None)
        for chunk in chunks:
            start = 0
            while start < len(chunk):
                take = min(size - held, len(chunk) - start)
                parts.append(chunk.slice(start, start + take))
                held += take
                start += take
                if held == size:
                    yield self._batch(batch_no, Messages.concat(parts))
                    batch_no += 1
                    parts, held = [], 0
        if parts:
            yield self._batch(batch_no, Messages.concat(parts))

    def _batch(self, batch_no: int, messages: Messages) -> Batch:
        messages = messages.as_lists()
        if self.spec.kind == "bulk":
            corp_msg_id = f"{self.prefix}-{batch_no}"
            msg_ids = [corp_msg_id] * len(messages)
            content, ext = self.spec.content or "", self.spec.ext
            wire = "\n".join([*messages.mobiles, content, ext])
        else:
            prefix = self.prefix
            msg_ids = [
                i or f"{prefix}-{r}" for i, r in zip(messages.msg_ids, messages.rows, strict=True)
            ]
            # Rows were validated (RowChecker): join them straight into the wire format.
            wire = join_send_param_columns(
                messages.mobiles, msg_ids, messages.exts, messages.contents
            )
        encoded = wire.encode(WIRE_ENCODING)
        segments = sum(messages.segments)
        key = batch_key(self.key, batch_no)
        return Batch(batch_no, key, messages, msg_ids, segments, content_hash(encoded), encoded)

    def _body(self, batch: Batch, client: HbSmsClient) -> tuple[Endpoint, bytes]:
        """The request of a batch whose rows the RowChecker validated already."""
        if self.spec.kind == "bulk":
            body = build_send_body(
                client.credentials,
                batch.messages.mobiles,
                self.spec.content or "",
                batch.msg_ids[0],
                self.spec.ext,
                validate=False,
            )
            return Endpoint.SEND, body
        body = personalized_body(client.credentials, batch.wire, len(batch.messages))
        return Endpoint.PERSONALIZED_SEND, body

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

        This thread claims each batch (a committed ledger write) and builds its body while
        ``connections`` lanes post the bodies prepared before; it settles what the lanes
        report. Stops at the first batch whose outcome is unknown or that the gateway refuses;
        pauses (``paused_until``) when the send window closes.

        :raises UnsettledBatchesError: batches may have been sent; they were not resent.
        :raises CampaignError: the gateway refused a batch (the error says which and why).
        """
        report = SendReport()
        progress = _Progress(self.key, total_batches)
        store = StoreCalls(self.key, ledger.engine.url.render_as_string(hide_password=True))
        lease = ledger.lease(self.key, self.options.lease_ttl)
        store.run("starting the send lease", lease.__enter__)
        lanes: SendLanes[Batch] = SendLanes(client, self.options.connections)
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
            for batch in self.batches():
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
                try:
                    endpoint, body = self._body(batch, client)
                except BaseException as exc:
                    # Claimed, certainly not sent: settled so a retry sends it.
                    refused = Settlement(batch.key, REJECTED, error=str(exc))
                    store.run(
                        f"recording batch {batch.batch_no}",
                        lambda refused=refused: ledger.settle_many([refused]),  # type: ignore[misc]
                    )
                    if not isinstance(exc, HbSmsError):
                        raise
                    failures.append(exc)
                    break
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
            raise UnsettledBatchesError(self.key, sorted(report.unknown_batches))
        return report

    def _posted(self, keys: set[str]) -> Iterator[Batch]:
        """The batches with these ledger keys (for naming them in an error)."""
        if keys:
            for batch in self.batches():
                if batch.key in keys:
                    yield batch

    def _account(
        self,
        outcomes: list[Outcome[Batch]],
        report: SendReport,
        progress: _Progress,
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
                failures.append(UnsettledBatchesError(self.key, [batch.batch_no], str(result)))
            elif isinstance(result, GatewayError | RequestNotSentError):
                settled.append(Settlement(key, REJECTED, error=str(result)))
                error = CampaignError(
                    f"campaign {self.key!r}: batch {batch.batch_no} was not accepted: {result}"
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
                f"campaign {self.key!r}: batch {batch.batch_no} differs from what an earlier "
                "attempt sent (the input changed between tries); nothing more was sent. Use a "
                "new campaign key for a new input."
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
                lambda: ledger.reconcile_from_reports(existing.batch_key, self.key),
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
            campaign_key=self.key,
            batch_no=batch.batch_no,
            endpoint=(
                Endpoint.SEND if self.spec.kind == "bulk" else Endpoint.PERSONALIZED_SEND
            ).path,
            content_hash=batch.content_hash,
            submitted=len(batch.messages),
            segments=batch.segments,
            messages=SentColumns(
                batch.msg_ids,
                batch.messages.mobiles,
                batch.messages.exts,
                batch.messages.segments,
            ),
            resend=self.options.resend_unknown,
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
        ttl, bound = self.options.lease_ttl, self.options.wait_for_other_try
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
                    self.key,
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


def _kept(messages: Messages, keep: list[bool]) -> tuple[Messages, int]:
    """The messages whose ``keep`` is true, and how many were left out."""
    dropped = keep.count(False)
    return (messages.where(keep) if dropped else messages), dropped


class _Progress:
    """Logs progress of long sends, at most every 10 seconds: counts first, then the rate and
    the time left (the campaign's key is logged once, when it starts)."""

    def __init__(self, key: str, total: int | None) -> None:
        self.key = key
        self.total = total
        self.started = self.last = time.monotonic()

    def tick(self, report: SendReport) -> None:
        now = time.monotonic()
        if now - self.last < 10:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        rate = report.submitted / elapsed
        if not self.total:
            log.info(
                "%d batches sent, %d messages, %.0f messages/s",
                report.batches_sent,
                report.submitted,
                rate,
            )
            return
        left = max(self.total - report.batches_sent - report.skipped_batches, 0)
        per_batch = elapsed / max(report.batches_sent, 1)
        log.info(
            "%d/%d batches sent, %d messages, %.0f messages/s, about %s left",
            report.batches_sent + report.skipped_batches,
            self.total,
            report.submitted,
            rate,
            _duration(left * per_batch),
        )


def _duration(seconds: float) -> str:
    """``1h 02m``, ``3m 05s`` or ``42s``."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


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
