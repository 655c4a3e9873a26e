"""What sensors and triggers wait for, as plain serializable conditions.

A condition's ``check()`` is blocking (store queries, and pulls when ``collect`` is on); the
sensors call it from ``poke`` and the triggers from a worker thread, so the triggerer's event
loop never blocks. A pull's result is committed to the store before anything reads it.

A check that fails on a passing gateway trouble (unreachable, a lost or unreadable reply, "too
soon") is tried again at the next check; ``FailureBudget`` fails the wait only after more
checks in a row failed than the user allows, with the last error. Errors a retry cannot cure
(a wrong password, pulling not enabled, a bad setting) fail it at once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_hbsms.campaign.result import CampaignResult
from airflow_provider_hbsms.exceptions import (
    BalanceReplyLostError,
    GatewayError,
    PullReplyLostError,
    RequestNotSentError,
    UnexpectedReplyError,
    WaitFailedError,
)
from airflow_provider_hbsms.params import (
    DEFAULT_HBSMS_CONN_ID,
    DEFAULT_STORE_CONN_ID,
    PULL_KINDS,
    GatewayAccess,
    check_kinds,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from airflow_provider_hbsms.store import Store

log = logging.getLogger(__name__)

#: Failed checks in a row a wait rides out by default before it fails.
DEFAULT_MAX_CONSECUTIVE_FAILURES = 10


def is_transient(exc: BaseException) -> bool:
    """A gateway failure a later check can get past: unreachable, a lost, unreadable or
    oversized reply, "too soon", or a documented code marked retryable."""
    if isinstance(
        exc,
        RequestNotSentError | BalanceReplyLostError | PullReplyLostError | UnexpectedReplyError,
    ):
        return True
    return isinstance(exc, GatewayError) and exc.retryable


class FailureBudget:
    """Counts failed checks in a row; raises once there are more than ``limit``.

    :param limit: failed checks in a row to ride out (0: fail on the first).
    :param failures: failed checks already counted (a trigger resuming a sensor's count).
    """

    def __init__(self, limit: int = DEFAULT_MAX_CONSECUTIVE_FAILURES, failures: int = 0) -> None:
        if limit < 0:
            raise ValueError(f"max_consecutive_failures must be 0 or more, got {limit}")
        self.limit = limit
        self.failures = failures

    def absorb(self, exc: Exception) -> None:
        """Count a failed check, or raise: ``exc`` itself when no retry can cure it,
        ``WaitFailedError`` (with ``exc`` as its cause) past the limit."""
        if not is_transient(exc):
            raise exc
        self.failures += 1
        if self.failures > self.limit:
            raise WaitFailedError(
                f"{self.failures} checks in a row failed (max_consecutive_failures="
                f"{self.limit}); the last: {type(exc).__name__}: {exc}"
            ) from exc
        log.warning(
            "Check failed (%d in a row, %d allowed), trying again at the next check: %s: %s",
            self.failures,
            self.limit,
            type(exc).__name__,
            exc,
        )

    def succeeded(self) -> None:
        """A check went through: the count starts again."""
        self.failures = 0


def campaign_key_of(value: Any) -> str | None:
    """A campaign key from a key or from a send operator's result dict."""
    if isinstance(value, dict):
        key: Any = CampaignResult.from_xcom(value).campaign_key
        return key
    return str(value) if value else None


def campaign_keys_of(value: Any) -> str | list[str] | None:
    """Like ``campaign_key_of``, and several keys from a list of keys or results, or from
    a result whose ``campaign_key`` is a list: the shards of one campaign (a mapped send's
    results, or ``combine_shard_results``)."""
    if isinstance(value, dict):
        value = CampaignResult.from_xcom(value).campaign_key
    if isinstance(value, str) or value is None or isinstance(value, bytes):
        return campaign_key_of(value)
    if hasattr(value, "__iter__"):
        keys: list[str] = []
        for item in value:
            found = campaign_keys_of(item)
            keys.extend([found] if isinstance(found, str) else found or [])
        return keys
    return campaign_key_of(value)


def pull_kinds(
    kinds: str | Iterable[str] | None, wanted: str, collect: bool = True
) -> list[str] | None:
    """The queues a wait drains before each check: ``kinds`` checked (``reports``,
    ``replies``; it must include ``wanted``, the one the wait reads), None for ``wanted``
    alone. ``kinds`` without ``collect`` is refused: nothing would use it."""
    if kinds is None:
        return None
    if not collect:
        raise ValueError("kinds: says what each check collects, but collect is off")
    chosen = list(check_kinds(kinds, PULL_KINDS))
    if wanted not in chosen:
        raise ValueError(f"kinds: {chosen} leaves out {wanted!r}, which this wait reads")
    return chosen


@dataclass
class _Condition(GatewayAccess):
    """What every condition holds: the connections (a cached hook and store, made in the
    process that checks), and what to pull before each check.

    :param collect: drain the gateway's queues into the store before each check (pull mode).
    :param kinds: the queues to drain: ``reports``, ``replies``; default the one the
        condition reads (``wanted``), which must be among them.
    """

    hbsms_conn_id: str = DEFAULT_HBSMS_CONN_ID
    store_url: str | None = None
    store_conn_id: str | None = DEFAULT_STORE_CONN_ID
    collect: bool = True
    kinds: list[str] | None = None
    #: The queue this condition reads.
    wanted: ClassVar[str]

    def __post_init__(self) -> None:
        self.kinds = pull_kinds(self.kinds, self.wanted, self.collect)

    def pull(self) -> None:
        """Drain the gateway into the store first, when this condition collects."""
        if not self.collect:
            return
        from airflow_provider_hbsms.collector import Collector

        Collector(self.hook.client, self.store).drain(self.kinds or [self.wanted])

    def serialize(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DeliveryCondition(_Condition):
    """A campaign's (or some msg_ids') messages reached a final status or a delivered share.

    :param campaign_key: the campaign, or several (the shards of one campaign), counted as one.
    :param msg_ids: or these message ids.
    :param min_delivered_fraction: done once this share is delivered (else: all final).
    """

    campaign_key: str | list[str] | None = None
    msg_ids: list[str] | None = None
    min_delivered_fraction: float | None = None
    wanted: ClassVar[str] = "reports"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.campaign_key is None and not self.msg_ids:
            raise ValueError("give campaign_key (or a send result) or msg_ids")

    def check(self) -> dict[str, Any] | None:
        """The delivery summary once the condition holds, else None."""
        store = self.store
        self.pull()
        summary = (
            store.counters.summary(self.campaign_key)  # a few rows, whatever the campaign's size
            if self.campaign_key and self.msg_ids is None
            else store.reports.summary(self.campaign_key, self.msg_ids)
        )
        done = summary.is_final or summary.total == 0
        if self.min_delivered_fraction is not None and summary.total:
            done = done or summary.delivered_fraction >= self.min_delivered_fraction
        _log_delivery(_describe(self.campaign_key) or f"{len(self.msg_ids or [])} msg_ids", summary)
        return summary.as_dict() if done else None


#: Seconds between "no change" lines while a wait's counts stay the same.
HEARTBEAT_SECONDS = 300.0
#: What each wait last logged, per subject: its counts, when (monotonic), since when unchanged.
_logged: dict[str, tuple[tuple[int, int, int, int], float, float]] = {}


def _log_delivery(subject: str, summary: Any) -> None:
    """A line when the counts change (the first one names what is waited for), and a
    heartbeat every ``HEARTBEAT_SECONDS`` while they do not."""
    counts = (summary.delivered, summary.failed, summary.pending, summary.total)
    now = time.monotonic()
    last = _logged.get(subject)
    if last is not None and last[0] == counts and now - last[1] < HEARTBEAT_SECONDS:
        return
    if last is None and len(_logged) >= 1000:  # a long-lived triggerer sees many waits
        _logged.pop(next(iter(_logged)))
    unchanged_since = last[2] if last is not None and last[0] == counts else now
    _logged[subject] = (counts, now, unchanged_since)
    line = "%d delivered, %d failed, %d pending of %d"
    if last is None:
        log.info(line + " (delivery of %s)", *counts, subject)
    elif last[0] == counts:
        log.info(line + " (no change for %.0f min)", *counts, (now - unchanged_since) / 60)
    else:
        log.info(line, *counts)


def _describe(campaign_key: str | list[str] | None) -> str | None:
    if isinstance(campaign_key, list):
        return f"{len(campaign_key)} campaigns ({', '.join(campaign_key[:3])}...)"
    return campaign_key


@dataclass
class ReplyCondition(_Condition):
    """A reply arrived from given numbers / to an ext / matching a pattern / for a campaign.

    :param mobiles: only from these numbers.
    :param ext: only to this ext.
    :param pattern: a regular expression the content must contain (case-insensitive).
    :param campaign_key: only replies attributed to this campaign.
    :param since: only replies stored at or after this time (ISO 8601).
    :param min_replies: how many matching replies to wait for.
    """

    mobiles: list[str] | None = None
    ext: str | None = None
    pattern: str | None = None
    campaign_key: str | None = None
    since: str | None = None
    min_replies: int = 1
    after_id: int = 0
    limit: int = field(default=1000)
    wanted: ClassVar[str] = "replies"

    def matches(self, store: Store) -> list[dict[str, Any]]:
        found = store.replies.find(
            mobiles=self.mobiles,
            ext=self.ext,
            pattern=self.pattern,
            campaign_key=self.campaign_key,
            after_id=self.after_id,
            since=datetime.fromisoformat(self.since) if self.since else None,
            limit=self.limit,
        )
        return [r.as_dict() for r in found]

    def check(self) -> list[dict[str, Any]] | None:
        """The matching replies once there are enough, else None."""
        self.pull()
        found = self.matches(self.store)
        return found if len(found) >= self.min_replies else None
