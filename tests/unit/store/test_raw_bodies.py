"""Bodies kept as received are written compressed when that makes them smaller, and read back
byte for byte: those written so, those kept before bodies were compressed, and a pulled page
replayed from either."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import insert, select

from airflow_provider_hbsms.protocol import Report, build_reports_xml
from airflow_provider_hbsms.store.quarantine import RECEIVED
from airflow_provider_hbsms.store.raw_bodies import ZLIB, pack_body, unpack_body
from airflow_provider_hbsms.store.replay import replay
from airflow_provider_hbsms.store.schema import inbound, reports

if TYPE_CHECKING:
    from airflow_provider_hbsms.store import Store

PAGE = build_reports_xml([Report(f"138{i:08d}", f"raw-{i}", 0, "0") for i in range(100)])


@pytest.mark.parametrize(
    "body",
    [PAGE, b"", b"<reports/>", os.urandom(4096), PAGE.replace(b"GBK", b"UTF-8") + b"\xff\x00"],
    ids=["page", "empty", "small", "incompressible", "odd-bytes"],
)
def test_a_body_reads_back_byte_for_byte(body: bytes) -> None:
    stored, encoding = pack_body(body)
    assert unpack_body(stored, encoding) == body
    assert len(stored) <= len(body)


def test_a_page_is_written_compressed_and_a_small_or_incompressible_body_as_it_is() -> None:
    stored, encoding = pack_body(PAGE)
    assert encoding == ZLIB
    assert len(stored) * 10 < len(PAGE)
    assert pack_body(b"<reports/>") == (b"<reports/>", None)
    noise = os.urandom(4096)
    assert pack_body(noise) == (noise, None)


def test_an_unknown_encoding_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown encoding 'lz4'"):
        unpack_body(b"x", "lz4")


def test_pushed_bodies_are_kept_compressed_and_read_back_each_under_its_id(
    any_store: Store,
) -> None:
    pages = [
        build_reports_xml([Report(f"139{p}{i:07d}", f"raw-{p}-{i}", 0, "0") for i in range(50)])
        for p in range(5)
    ]
    results, new = any_store.intake.ingest_group("reports", "push", "push:reports", pages)
    assert new == 250
    with any_store.engine.connect() as conn:
        kept = conn.execute(select(inbound)).all()
    assert {(r.body_encoding, len(r.body) * 5 < len(pages[0])) for r in kept} == {(ZLIB, True)}
    ids = [result.inbound_id for result in results]
    assert sorted(ids) == sorted(r.id for r in kept)  # type: ignore[type-var]
    assert [any_store.intake.kept_body(i) for i in ids if i is not None] == pages


def test_a_page_kept_before_bodies_were_compressed_is_replayed(any_store: Store) -> None:
    with any_store.engine.begin() as conn:
        conn.execute(
            insert(inbound).values(
                kind="reports",
                source="pull",
                route="/post_report.do",
                body=PAGE,
                received_at=datetime.now(UTC),
                state=RECEIVED,
                items=0,
            )
        )
    done = replay(any_store)
    assert (done.bodies, done.new) == (1, 100)
    with any_store.engine.connect() as conn:
        assert len(conn.execute(select(reports.c.id)).all()) == 100
