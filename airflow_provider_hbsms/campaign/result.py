"""A campaign's result: what a send operator returns (and pushes to XCom), what a sharded
campaign's results combine into, and what the sensors and the report read back."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from airflow_provider_hbsms.campaign.plan import Plan
    from airflow_provider_hbsms.campaign.progress import SendReport

#: The counts of the plan (pass 1), then those of the send (pass 2): they add up across shards.
PLAN_COUNTS = (
    "rows",
    "valid",
    "invalid",
    "opted_out",
    "duplicates",
    "messages",
    "batches",
    "billed_segments",
)
SEND_COUNTS = (
    "submitted",
    "accepted",
    "dropped_by_gateway",
    "skipped_already_sent",
    "skipped_batches",
    "resent_batches",
    "segments_sent",
)


@dataclass(frozen=True)
class CampaignResult:
    """A campaign's counts under their XCom keys; a count left None is not in the XCom value
    (the send's counts of a dry run, any count of a combination of no shards).

    :param campaign_key: the campaign's key; the shards' keys for a combined result.
    :param rows: input rows.
    :param valid: valid rows.
    :param invalid: invalid rows.
    :param opted_out: numbers left out as opted out.
    :param duplicates: numbers left out as sent the same text already.
    :param messages: messages to send.
    :param batches: requests to send them in.
    :param billed_segments: billed segments of the messages.
    :param submitted: messages sent by this try.
    :param accepted: messages the gateway accepted (earlier tries' included).
    :param dropped_by_gateway: messages sent but not accepted (per ``0#N``).
    :param skipped_already_sent: messages of batches an earlier try sent.
    :param skipped_batches: those batches.
    :param resent_batches: batches of unknown outcome sent once more.
    :param segments_sent: billed segments sent by this try.
    :param invalid_rows: the first invalid rows, described (masked unless asked).
    :param dry_run: validated and estimated only.
    :param estimated_cost: a dry run's cost estimate.
    :param shards: how many shards' results were combined.
    """

    campaign_key: str | list[str] | None
    rows: int | None = None
    valid: int | None = None
    invalid: int | None = None
    opted_out: int | None = None
    duplicates: int | None = None
    messages: int | None = None
    batches: int | None = None
    billed_segments: int | None = None
    submitted: int | None = None
    accepted: int | None = None
    dropped_by_gateway: int | None = None
    skipped_already_sent: int | None = None
    skipped_batches: int | None = None
    resent_batches: int | None = None
    segments_sent: int | None = None
    invalid_rows: list[str] | None = None
    dry_run: bool = False
    estimated_cost: str | None = None
    shards: int | None = None

    @classmethod
    def of(cls, key: str, plan: Plan, report: SendReport | None = None) -> CampaignResult:
        """The result of a campaign's plan and, unless a dry run, its send."""
        result = cls(
            key,
            rows=plan.rows,
            valid=plan.valid,
            invalid=plan.invalid,
            opted_out=plan.opted_out,
            duplicates=plan.duplicates,
            messages=plan.messages,
            batches=plan.batches,
            billed_segments=plan.segments,
            invalid_rows=[p.describe() for p in plan.problems] or None,
        )
        if report is None:
            return result
        return replace(
            result,
            submitted=report.submitted,
            accepted=report.accepted,
            dropped_by_gateway=report.dropped,
            skipped_already_sent=report.skipped_messages,
            skipped_batches=report.skipped_batches,
            resent_batches=report.resent_batches,
            segments_sent=report.segments_sent,
        )

    @classmethod
    def combine(cls, results: Iterable[CampaignResult | None]) -> CampaignResult:
        """One result for a sharded campaign: its shards' keys, their counts summed."""
        keys: list[str] = []
        shards = 0
        sums: dict[str, int] = {}
        for result in results:
            if result is None:
                continue
            shards += 1
            if isinstance(result.campaign_key, str):
                keys.append(result.campaign_key)
            for name in (*PLAN_COUNTS, *SEND_COUNTS):
                value = getattr(result, name)
                if value is not None:
                    sums[name] = sums.get(name, 0) + int(value)
        return cls.from_xcom({"campaign_key": keys, "shards": shards, **sums})

    def to_xcom(self) -> dict[str, Any]:
        """The XCom value: the key (and shard count), then the counts that are known."""
        value: dict[str, Any] = {"campaign_key": self.campaign_key}
        if self.shards is not None:
            value["shards"] = self.shards
        for name in (*PLAN_COUNTS, *SEND_COUNTS):
            if getattr(self, name) is not None:
                value[name] = getattr(self, name)
        if self.invalid_rows:
            value["invalid_rows"] = list(self.invalid_rows)
        if self.dry_run:
            value["dry_run"] = True
            value["estimated_cost"] = self.estimated_cost
        return value

    @classmethod
    def from_xcom(cls, value: Mapping[str, Any]) -> CampaignResult:
        """A result back from its XCom value (keys it does not know are ignored)."""
        known = {f.name for f in fields(cls)}
        given = {k: v for k, v in value.items() if k in known}
        given.setdefault("campaign_key", None)
        return cls(**given)

    @property
    def keys(self) -> list[str]:
        """The campaign's key, or its shards' keys."""
        key = self.campaign_key
        if key is None:
            return []
        return [key] if isinstance(key, str) else list(key)
