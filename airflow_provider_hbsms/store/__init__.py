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
    from airflow_provider_hbsms.store.ledger import SendLedger
    from airflow_provider_hbsms.store.optouts import OptOutList
    from airflow_provider_hbsms.store.pulls import PullState
    from airflow_provider_hbsms.store.rejects import RejectStore
    from airflow_provider_hbsms.store.replies import ReplyStore
    from airflow_provider_hbsms.store.reports import ReportStore


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

    def keep_dead_letter(self, kind: str, source: str, body: bytes, error: str) -> None:
        """Keep a body that arrived but could not be read (``hbsms_dead_letters``): what the
        gateway handed over must never be lost, even when it cannot be parsed. A body kept
        already (the gateway pushes a refused body again) is kept once, found by its digest."""
        import hashlib
        from datetime import UTC, datetime

        from sqlalchemy import select
        from sqlalchemy.exc import IntegrityError

        from airflow_provider_hbsms.store.schema import dead_letter_digests, dead_letters

        digest = hashlib.sha256(body).hexdigest()
        key = (
            dead_letter_digests.c.kind == kind,
            dead_letter_digests.c.source == source,
            dead_letter_digests.c.digest == digest,
        )
        try:
            with self.engine.begin() as conn:
                if conn.execute(select(dead_letter_digests.c.digest).where(*key)).first():
                    return
                inserted = conn.execute(
                    dead_letters.insert().values(
                        kind=kind,
                        source=source,
                        body=body,
                        error=error,
                        received_at=datetime.now(UTC),
                    )
                ).inserted_primary_key
                assert inserted is not None
                conn.execute(
                    dead_letter_digests.insert().values(
                        kind=kind, source=source, digest=digest, dead_letter_id=inserted[0]
                    )
                )
        except IntegrityError:
            pass  # the same body, kept by a concurrent push a moment ago

    @cached_property
    def pulls(self) -> PullState:
        from airflow_provider_hbsms.store.pulls import PullState

        return PullState(self.engine)


def open_store(url: str | None = None, conn_id: str | None = None) -> Store:
    """The store at ``url``, or behind Airflow connection ``conn_id``, or the configured default."""
    return Store(get_engine(resolve_store_url(url, conn_id)))


__all__ = ["Store", "open_store"]
