"""Indexing sent messages from the send journal: readers racing to index a campaign index each
message once, the journal is paged through, journals of earlier builds are indexed too, and
each page commits on its own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from airflow_provider_hbsms.store.schema import sent_messages
from tests.fixtures.database import claimed
from tests.fixtures.threads import outcomes_together

if TYPE_CHECKING:
    from airflow_provider_hbsms.store import Store


def test_readers_expanding_at_once_index_each_message_once(any_store: Store) -> None:
    """Several readers (sensors, the receiver, loaders) may find the same batches waiting to
    be indexed: each message still gets exactly one row, and every reader succeeds."""
    claimed(any_store, "together", batches=6, size=200)
    outcomes = outcomes_together(
        lambda _: any_store.reports.summary(campaign_key="together").total, 4
    )
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    assert outcomes == [1200] * 4
    with any_store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(sent_messages)).scalar_one() == 1200


def test_expansion_pages_through_the_journal(store: Store) -> None:
    from airflow_provider_hbsms.store.sent import expand

    claimed(store, "paged", batches=5, size=3, ext="9", segments=2)
    with store.engine.begin() as conn:
        assert expand(conn, page=2) == 5
        assert expand(conn, page=2) == 0
    statuses = store.reports.message_statuses(campaign_key="paged")
    assert len(statuses) == 15
    assert {s.segments for s in statuses} == {2}


def test_journals_of_earlier_builds_are_indexed_too(store: Store) -> None:
    """Journals written a line per message (before the columnar payload) still expand."""
    from airflow_provider_hbsms.store.schema import batch_messages
    from airflow_provider_hbsms.store.sent import expand

    with store.engine.begin() as conn:
        conn.execute(
            batch_messages.insert(),
            {
                "batch_key": "old-0",
                "campaign_key": "old",
                "payload": "old-0-0\t13800000000\t\t1\nold-0-1\t13800000001\t7\t3",
                "created_at": datetime.now(UTC),
                "expanded": 0,
            },
        )
        assert expand(conn) == 1
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(
                sent_messages.c.msg_id,
                sent_messages.c.mobile,
                sent_messages.c.ext,
                sent_messages.c.segments,
            ).order_by(sent_messages.c.msg_id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("old-0-0", "13800000000", "", 1),
        ("old-0-1", "13800000001", "7", 3),
    ]


def test_indexing_commits_page_by_page(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large backlog is indexed in committed pages, so the write lock is never held for the
    whole of it: a failure on a later page keeps what earlier pages did."""
    from airflow_provider_hbsms.store import sent

    claimed(store, "pages", batches=5, size=2)
    real = sent._rows

    def fail_on_last_batch(conn: Any, batch_key: str, *args: Any) -> list[tuple[Any, ...]]:
        if batch_key == "pages-4":
            raise RuntimeError("disk full")
        return real(conn, batch_key, *args)

    monkeypatch.setattr(sent, "_rows", fail_on_last_batch)
    with pytest.raises(RuntimeError):
        sent.expand_pending(store.engine, page=2)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(sent_messages)).scalar_one() == 8
