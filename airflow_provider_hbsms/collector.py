"""Draining the gateway's pull endpoints into the store, one committed batch at a time.

A pull hands data over once: each page is committed to the store as received
(``hbsms_inbound``) before it is even parsed, then its items are stored (an item the store
cannot hold is quarantined, an unreadable page becomes a dead letter), all before the next pull.
A crash after the gateway answered loses nothing that reached this process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from airflow_provider_hbsms.exceptions import (
    HbSmsError,
    PullNotEnabledError,
    PullReplyLostError,
    PushOnlyAccountError,
    RateLimitedError,
    UnexpectedReplyError,
)
from airflow_provider_hbsms.protocol.endpoints import (
    MAX_REPLIES_PER_BODY,
    MAX_REPORTS_PER_BODY,
    Endpoint,
)
from airflow_provider_hbsms.store.keywords import resolve_opt_out_keywords
from airflow_provider_hbsms.store.pulls import GATEWAY_RETENTION

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

    from airflow_provider_hbsms.client import HbSmsClient
    from airflow_provider_hbsms.store import Store

log = logging.getLogger(__name__)

REPORTS, REPLIES = "reports", "replies"
#: A previous successful pull older than this is logged as a warning before the next drain.
DEFAULT_WARN_LAG = timedelta(hours=12)


@dataclass
class DrainResult:
    """What one drain did.

    :param kind: ``reports`` or ``replies``.
    :param pulls: pull calls made.
    :param received: items the gateway handed over.
    :param new: items that were not in the store before.
    :param opted_out: numbers put on the opt-out list (replies).
    :param dead_letters: unreadable bodies kept for inspection.
    :param quarantined: items kept in quarantine (the store cannot hold them as they are).
    """

    kind: str
    pulls: int = 0
    received: int = 0
    new: int = 0
    opted_out: int = 0
    dead_letters: int = 0
    quarantined: int = 0


class Collector:
    """Pulls reports and replies of one account into the store.

    :param client: the account's client (its pacer spaces the pulls across processes).
    :param store: where to keep what is pulled.
    :param opt_out_keywords: replies that put their sender on the opt-out list; default
        ``[hbsms] opt_out_keywords``.
    :param max_lag: after a drain, raise ``StalePullsError`` when the last successful pull
        of its kind is older than this (the gateway moves unpulled data to history after 3
        days); None: no check.
    :param warn_lag: before a drain, only log a warning when the previous successful pull is
        older than this (default 12 hours); None: no warning.
    """

    def __init__(
        self,
        client: HbSmsClient,
        store: Store,
        opt_out_keywords: Collection[str] | None = None,
        max_lag: timedelta | None = None,
        warn_lag: timedelta | None = DEFAULT_WARN_LAG,
    ) -> None:
        self.client = client
        self.store = store
        # Read once per collector: every page of this drain is classified alike.
        self.opt_out_keywords = resolve_opt_out_keywords(opt_out_keywords)
        self.max_lag = max_lag
        self.warn_lag = warn_lag
        self.corp_id = client.credentials.corp_id
        client.pace_with(store.engine)  # PostgreSQL: take turns with pollers on other hosts

    def drain_reports(self, max_pulls: int | None = None) -> DrainResult:
        """Pull reports until the gateway says ``0`` (or ``max_pulls``)."""
        return self.drain([REPORTS], max_pulls)[0]

    def drain_replies(self, max_pulls: int | None = None) -> DrainResult:
        """Pull replies until the gateway says ``0`` (or ``max_pulls``)."""
        return self.drain([REPLIES], max_pulls)[0]

    def drain_all(self, max_pulls: int | None = None) -> list[DrainResult]:
        """Pull reports, then replies."""
        return self.drain([REPORTS, REPLIES], max_pulls)

    def drain(self, kinds: Iterable[str], max_pulls: int | None = None) -> list[DrainResult]:
        """Drain each of ``kinds`` (``reports``, ``replies``) in turn, then check ``max_lag``
        for each: every queue is drained before a stale one fails the caller."""
        kinds = list(kinds)
        for kind in kinds:
            if kind not in (REPORTS, REPLIES):
                raise ValueError(f"kinds: {kind!r} is not a kind; choose from 'reports', 'replies'")
        results = [self._drain(kind, max_pulls) for kind in kinds]
        if self.max_lag is not None:
            for result in results:
                self.store.pulls.check_fresh(self.corp_id, result.kind, self.max_lag)
        return results

    def _warn_if_stale(self, kind: str) -> None:
        if self.warn_lag is None:
            return
        last = self.store.pulls.last_success(self.corp_id, kind)
        if last is not None and datetime.now(UTC) - last > self.warn_lag:
            log.warning(
                "No %s pull of %s succeeded since %s; the gateway moves unpulled data to "
                "history after %d days",
                kind,
                self.corp_id,
                last.isoformat(),
                GATEWAY_RETENTION.days,
            )

    def _drain(self, kind: str, max_pulls: int | None) -> DrainResult:
        self._warn_if_stale(kind)
        result = DrainResult(kind)
        endpoint = Endpoint.PULL_REPORTS if kind == REPORTS else Endpoint.PULL_REPLIES
        while max_pulls is None or result.pulls < max_pulls:
            result.pulls += 1
            try:
                body = self.client.pull_raw(endpoint)
            except PullNotEnabledError as exc:
                self.store.pulls.record_failure(self.corp_id, kind, str(exc))
                raise PushOnlyAccountError(
                    f"{exc}. This account gets its {kind} by push: run the push receiver "
                    "(hbsms-receiver, or the API-server plugin) and register its URL with the "
                    "gateway, and turn collection off (collect=False)."
                ) from exc
            except UnexpectedReplyError as exc:
                if not exc.body:
                    self.store.pulls.record_failure(self.corp_id, kind, str(exc))
                    raise
                self._dead_letter(kind, exc)
                result.dead_letters += 1
                continue
            except RateLimitedError as exc:
                # Another poller kept the account busy for the client's whole wait: try later.
                log.warning(
                    "%s pull of %s kept being refused as too soon: %s", kind, self.corp_id, exc
                )
                self.store.pulls.record_failure(self.corp_id, kind, str(exc))
                break
            except PullReplyLostError as exc:
                log.error("%s", exc)
                self.store.pulls.record_lost(self.corp_id, kind, exc.lost_at, str(exc))
                raise
            except HbSmsError as exc:
                self.store.pulls.record_failure(self.corp_id, kind, str(exc))
                raise
            if body is None:
                self.store.pulls.record_success(self.corp_id, kind)
                break
            self._store(kind, endpoint, body, result)
            self.store.pulls.record_success(self.corp_id, kind)
        if result.received:
            log.info(
                "Pulled %d %s (%d new) in %d pulls", result.received, kind, result.new, result.pulls
            )
        return result

    def _store(self, kind: str, endpoint: Endpoint, body: bytes, result: DrainResult) -> None:
        # Committed before it is read: the gateway will not hand this page over again.
        kept = self.store.intake.keep(kind, "pull", endpoint.path, body)
        ingested = self.store.intake.ingest(
            kind,
            "pull",
            endpoint.path,
            body,
            opt_out_keywords=self.opt_out_keywords,
            inbound_id=kept,
            max_items=MAX_REPORTS_PER_BODY if kind == REPORTS else MAX_REPLIES_PER_BODY,
        )
        if ingested.dead_letter is not None:
            log.error("Unreadable %s pull kept as a dead letter: %s", kind, ingested.error)
            result.dead_letters += 1
            return
        result.received += ingested.items
        result.new += ingested.new
        result.opted_out += len(ingested.opted_out)
        result.quarantined += ingested.quarantined

    def _dead_letter(self, kind: str, exc: UnexpectedReplyError) -> None:
        log.error("Unreadable %s pull kept as a dead letter: %s", kind, exc)
        route = str(exc.endpoint) if getattr(exc, "endpoint", None) else ""
        self.store.keep_dead_letter(kind, "pull", exc.body, str(exc), route)
