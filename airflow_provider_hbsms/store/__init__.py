"""Durable state shared by every task and process: ledger, reports, replies, opt-outs, rejects.

``open_store()`` picks the database (explicit URL, Airflow connection id, ``[hbsms]`` settings,
or ``$AIRFLOW_HOME/hbsms.db``) and returns a ``Store`` with one accessor per concern.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from airflow_provider_hbsms.store.db import get_engine, resolve_store_url

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from airflow_provider_hbsms.store.cursors import Cursors
    from airflow_provider_hbsms.store.intake import Intake
    from airflow_provider_hbsms.store.ledger import SendLedger
    from airflow_provider_hbsms.store.optouts import OptOutList
    from airflow_provider_hbsms.store.pulls import PullState
    from airflow_provider_hbsms.store.rejects import RejectStore
    from airflow_provider_hbsms.store.replies import ReplyStore
    from airflow_provider_hbsms.store.reports import ReportStore
    from airflow_provider_hbsms.store.summaries import DeliveryCounters


class Store:
    """The store over one database.

    :param engine: the SQLAlchemy engine (tables are created on first use).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    @cached_property
    def ledger(self) -> SendLedger:
        from airflow_provider_hbsms.store.ledger import SendLedger

        return SendLedger(self.engine)

    @cached_property
    def reports(self) -> ReportStore:
        from airflow_provider_hbsms.store.reports import ReportStore

        return ReportStore(self.engine)

    @cached_property
    def counters(self) -> DeliveryCounters:
        from airflow_provider_hbsms.store.summaries import DeliveryCounters

        return DeliveryCounters(self.engine)

    @cached_property
    def replies(self) -> ReplyStore:
        from airflow_provider_hbsms.store.replies import ReplyStore

        return ReplyStore(self.engine)

    @cached_property
    def opt_outs(self) -> OptOutList:
        from airflow_provider_hbsms.store.optouts import OptOutList

        return OptOutList(self.engine)

    @cached_property
    def rejects(self) -> RejectStore:
        from airflow_provider_hbsms.store.rejects import RejectStore

        return RejectStore(self.engine)

    @cached_property
    def cursors(self) -> Cursors:
        from airflow_provider_hbsms.store.cursors import Cursors

        return Cursors(self.engine)

    def keep_dead_letter(
        self, kind: str, source: str, body: bytes, error: str, route: str = ""
    ) -> None:
        """Keep a body that arrived but could not be read (``hbsms_dead_letters``): what the
        gateway handed over must never be lost, even when it cannot be parsed. A body kept
        already (the gateway pushes a refused body again) is kept once, found by its digest."""
        from airflow_provider_hbsms.store.quarantine import keep_dead_letter

        keep_dead_letter(self.engine, kind, source, body, error, route)

    @cached_property
    def intake(self) -> Intake:
        """Raw-first storing of pushed and pulled bodies."""
        from airflow_provider_hbsms.store.intake import Intake

        return Intake(self.engine, self.reports, self.replies)

    def with_busy_timeout(self, seconds: float) -> Store:
        """This store over a new engine whose SQLite writers wait at most ``seconds`` for
        another's lock (other databases: this store)."""
        database = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or not database or database == ":memory:":
            return self  # another engine on an in-memory database would see another database
        from airflow_provider_hbsms.store.db import make_engine

        url = self.engine.url.render_as_string(hide_password=False)
        return Store(make_engine(url, migrate=False, busy_timeout=seconds))

    @property
    def schema_version(self) -> int:
        """The schema version the store is at."""
        from airflow_provider_hbsms.store.migrations import schema_version

        with self.engine.connect() as conn:
            return schema_version(conn)

    @cached_property
    def pulls(self) -> PullState:
        from airflow_provider_hbsms.store.pulls import PullState

        return PullState(self.engine)


def open_store(url: str | None = None, conn_id: str | None = None) -> Store:
    """The store at ``url``, or behind Airflow connection ``conn_id``, or the configured default
    (brought up to the current schema version on first use)."""
    return Store(get_engine(resolve_store_url(url, conn_id)))


__all__ = ["Store", "open_store"]
