"""Pass 1 and 2 of a campaign: validating every row and counting what would be sent (``plan``),
then forming the same batches on every pass and every retry (``batches``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from airflow_provider_hbsms.campaign.keys import batch_key, content_hash, msg_id_prefix
from airflow_provider_hbsms.campaign.messages import Messages
from airflow_provider_hbsms.campaign.rows import RowChecker
from airflow_provider_hbsms.exceptions import HbSmsValidationError, ValidationProblem
from airflow_provider_hbsms.protocol.endpoints import MAX_BATCH, WIRE_ENCODING
from airflow_provider_hbsms.store.leases import LEASE_TTL

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow_provider_hbsms.campaign.inputs import RowSource
    from airflow_provider_hbsms.campaign.spec import MessageSpec


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


class Planner:
    """A campaign over one input: its validation (pass 1) and its batches (pass 2).

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
        self.rules = spec.rules
        self.prefix = msg_id_prefix(key)
        # Validated messages kept from plan() for send(), when the input is in memory anyway;
        # files are read (and validated) again instead.
        self._planned: list[Messages] | None = None

    def _valid_chunks(self, plan: Plan | None) -> Iterator[Messages]:
        """Valid, wanted messages in input order, chunk by chunk; counts into ``plan``."""
        seen: set[str] = set()
        dedupe = self.options.dedupe and self.rules.dedupes
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
        msg_ids, wire = self.rules.wire(self.spec, messages, self.prefix, batch_no)
        encoded = wire.encode(WIRE_ENCODING)
        segments = sum(messages.segments)
        key = batch_key(self.key, batch_no)
        return Batch(batch_no, key, messages, msg_ids, segments, content_hash(encoded), encoded)


def _kept(messages: Messages, keep: list[bool]) -> tuple[Messages, int]:
    """The messages whose ``keep`` is true, and how many were left out."""
    dropped = keep.count(False)
    return (messages.where(keep) if dropped else messages), dropped
