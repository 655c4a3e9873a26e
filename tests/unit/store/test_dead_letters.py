"""Dead letters (bodies that could not be read) are kept once each, found by their digest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import event, select

from airflow_provider_hbsms.store.schema import dead_letters

if TYPE_CHECKING:
    from airflow_provider_hbsms.store import Store


def test_dead_letters_are_deduplicated_by_digest(store: Store) -> None:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    bodies = [b"<reports>" + bytes([i]) * 1000 for i in range(5)]
    event.listen(store.engine, "before_cursor_execute", record)
    try:
        for body in bodies + bodies:
            store.keep_dead_letter("reports", "push", body, "malformed")
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    with store.engine.connect() as conn:
        kept = conn.execute(select(dead_letters.c.body)).scalars().all()
    assert sorted(kept) == sorted(bodies)
    # Found by digest: no statement compares a body with the kept ones.
    lookups = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert lookups
    assert not any("body" in s.split("WHERE", 1)[-1] for s in lookups)
