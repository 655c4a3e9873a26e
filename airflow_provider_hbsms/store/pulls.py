"""When pulls last succeeded: the gateway moves unpulled reports to history after 3 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from airflow_provider_hbsms.exceptions import StalePullsError
from airflow_provider_hbsms.store.schema import pull_state
from airflow_provider_hbsms.store.upsert import upsert

if TYPE_CHECKING:
    from sqlalchemy import Engine

#: The gateway keeps unpulled data this long before moving it out of reach.
GATEWAY_RETENTION = timedelta(days=3)


class PullState:
    """Records and checks pull freshness per account and kind (``reports`` / ``replies``).

    :param engine: the store's engine.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _touch(self, corp_id: str, kind: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            upsert(conn, pull_state, {"corp_id": corp_id, "kind": kind}, values)

    def record_success(self, corp_id: str, kind: str) -> None:
        now = datetime.now(UTC)
        self._touch(corp_id, kind, last_success_at=now, last_attempt_at=now, last_error=None)

    def record_failure(self, corp_id: str, kind: str, error: str) -> None:
        self._touch(corp_id, kind, last_attempt_at=datetime.now(UTC), last_error=error[:2000])

    def record_lost(self, corp_id: str, kind: str, lost_at: datetime, error: str) -> None:
        """A pulled page was handed over and lost on the way (``PullReplyLostError``)."""
        self._touch(
            corp_id,
            kind,
            last_attempt_at=datetime.now(UTC),
            last_error=error[:2000],
            last_lost_at=lost_at,
        )

    def last_lost(self, corp_id: str, kind: str) -> datetime | None:
        """When a pulled page of this account and kind was last lost, if ever."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(pull_state.c.last_lost_at).where(
                    pull_state.c.corp_id == corp_id, pull_state.c.kind == kind
                )
            ).scalar()
        if value is not None and value.tzinfo is None:  # SQLite returns naive UTC
            value = value.replace(tzinfo=UTC)
        return value

    def last_success(self, corp_id: str, kind: str) -> datetime | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(pull_state.c.last_success_at).where(
                    pull_state.c.corp_id == corp_id, pull_state.c.kind == kind
                )
            ).scalar()
        if value is not None and value.tzinfo is None:  # SQLite returns naive UTC
            value = value.replace(tzinfo=UTC)
        return value

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
