"""When pulls last succeeded: the gateway moves unpulled reports to history after 3 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from airflow_provider_hbsms.exceptions import StalePullsError
from airflow_provider_hbsms.store.schema import pull_state
from airflow_provider_hbsms.store.times import as_utc
from airflow_provider_hbsms.store.upsert import upsert

if TYPE_CHECKING:
    from sqlalchemy import Column, Engine

#: The gateway keeps unpulled data this long before moving it out of reach.
GATEWAY_RETENTION = timedelta(days=3)
#: The longest error text kept of a failed pull.
_MAX_ERROR = 2000


class PullState:
    """Records and checks pull freshness per account and kind (``reports`` / ``replies``).

    :param engine: the store's engine.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _record(
        self, corp_id: str, kind: str, at: datetime, error: str | None, **marks: Any
    ) -> None:
        """A pull attempt at ``at``: its error (None: it succeeded), and what else it marks."""
        error = None if error is None else error[:_MAX_ERROR]
        values = {"last_attempt_at": at, "last_error": error, **marks}
        with self.engine.begin() as conn:
            upsert(conn, pull_state, {"corp_id": corp_id, "kind": kind}, values)

    def _read(self, corp_id: str, kind: str, column: Column[datetime]) -> datetime | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(column).where(pull_state.c.corp_id == corp_id, pull_state.c.kind == kind)
            ).scalar()
        return as_utc(value)

    def record_success(self, corp_id: str, kind: str) -> None:
        now = datetime.now(UTC)
        self._record(corp_id, kind, now, None, last_success_at=now)

    def record_failure(self, corp_id: str, kind: str, error: str) -> None:
        self._record(corp_id, kind, datetime.now(UTC), error)

    def record_lost(self, corp_id: str, kind: str, lost_at: datetime, error: str) -> None:
        """A pulled page was handed over and lost on the way (``PullReplyLostError``)."""
        self._record(corp_id, kind, datetime.now(UTC), error, last_lost_at=lost_at)

    def last_lost(self, corp_id: str, kind: str) -> datetime | None:
        """When a pulled page of this account and kind was last lost, if ever."""
        return self._read(corp_id, kind, pull_state.c.last_lost_at)

    def last_success(self, corp_id: str, kind: str) -> datetime | None:
        return self._read(corp_id, kind, pull_state.c.last_success_at)

    def check_fresh(self, corp_id: str, kind: str, max_lag: timedelta) -> None:
        """Raise ``StalePullsError`` when the last successful pull is older than ``max_lag``."""
        last = self.last_success(corp_id, kind)
        if last is None:
            raise StalePullsError(f"no {kind} pull of account {corp_id!r} has ever succeeded")
        lag = datetime.now(UTC) - last
        if lag > max_lag:
            raise StalePullsError(
                f"last successful {kind} pull of account {corp_id!r} was {lag} ago "
                f"(allowed {max_lag}); the gateway moves unpulled data to history after "
                f"{GATEWAY_RETENTION.days} days"
            )
