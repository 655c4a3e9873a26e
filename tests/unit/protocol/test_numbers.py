"""One number form: every number in (report and reply mobiles, opt-outs) and out (sends) goes
through ``canonical_mobile``, so opt-outs, delivery matching and reply attribution work
whatever form the gateway or the user writes a number in."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from airflow_provider_hbsms.operators.send import HbSmsSendOperator
from airflow_provider_hbsms.protocol import InvalidFieldError, Reply, Report, normalize_mobile
from airflow_provider_hbsms.protocol.numbers import canonical_mobile
from airflow_provider_hbsms.protocol.xmlcodec import build_replies_xml
from airflow_provider_hbsms.receiver.app import ReceiverSettings, create_app, mounted
from airflow_provider_hbsms.store import Store
from airflow_provider_hbsms.store.db import make_engine
from airflow_provider_hbsms.store.migrations import forget_limits
from tests.fixtures.database import claimed, legacy_store
from tests.fixtures.operators import context
from tests.fixtures.receiver import TOKEN

FORMS = [
    "+8613812340001",
    "8613812340002",
    "008613812340003",
    "+86 138-1234-0004",
    "(138) 1234 0005",
]


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("13800138000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("008613800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("0086 138 0013 8000", "13800138000"),
        ("138.0013.8000", "13800138000"),
        ("+852 9123 4567", "+85291234567"),  # not mainland: only the separators go
        ("86138", "86138"),  # too short to carry a prefix
    ],
)
def test_canonical_mobile(written: str, canonical: str) -> None:
    assert canonical_mobile(written) == canonical


def test_outbound_uses_the_same_normalization_and_stays_strict() -> None:
    assert normalize_mobile("0086 138-0013-8000") == canonical_mobile("0086 138-0013-8000")
    with pytest.raises(InvalidFieldError, match="11-digit mainland"):
        normalize_mobile("+852 9123 4567")


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest) -> Store:
    return request.getfixturevalue("store" if request.param == "sqlite" else "pg_store")  # type: ignore[no-any-return]


def test_an_opt_out_in_each_prefixed_form_keeps_the_bare_number_out(
    any_store: Store, simulator: Any, hbsms_conn: Any
) -> None:
    client = TestClient(
        mounted(create_app(ReceiverSettings(token=TOKEN, store_factory=lambda: any_store)))
    )
    body = build_replies_xml([Reply(form, "退订") for form in FORMS])
    assert client.post(f"/hbsms/{TOKEN}/replies", content=body).text == "0"
    bare = [canonical_mobile(form) for form in FORMS]
    assert any_store.opt_outs.all() == set(bare)
    assert any_store.opt_outs.opted_out(FORMS) == set(FORMS)
    stored = {r.mobile for r in any_store.replies.find()}
    assert stored == set(bare)
    op = HbSmsSendOperator(
        task_id="next",
        input=[*bare, "13812340009"],
        content="下一次活动",
        store_url=any_store.engine.url.render_as_string(hide_password=False),
    )
    result = op.execute(context("next"))
    assert result["opted_out"] == len(FORMS)
    assert [m.mobile for m in simulator.received()] == ["13812340009"]


def test_reports_and_replies_in_prefixed_form_match_what_was_sent(any_store: Store) -> None:
    claimed(any_store, "camp", batches=1, size=2, ext="7")
    any_store.reports.add([Report("+86 130-0000-0000", "camp-0-0", 0, "0")], source="push")
    statuses = {s.msg_id: s.status for s in any_store.reports.message_statuses("camp")}
    assert statuses == {"camp-0-0": "delivered", "camp-0-1": "pending"}
    any_store.replies.add([Reply("0086 13000000001", "好的", "7")], source="push")
    (reply,) = any_store.replies.find(mobiles=["+8613000000001"])
    assert (reply.mobile, reply.campaign_key, reply.msg_id) == ("13000000001", "camp", "camp-0-1")


def test_opt_outs_stored_raw_by_an_older_version_keep_working(sqlite_url: str) -> None:
    """SQLite does not enforce VARCHAR sizes, so an older version kept prefixed numbers there
    (on PostgreSQL their insert failed: the columns were 11 characters)."""
    for url in (sqlite_url,):
        old = legacy_store(url)
        with old.engine.begin() as conn:
            for mobile in ("+8613812340001", "008613812340003", "13812340007"):
                conn.execute(
                    text(
                        "INSERT INTO hbsms_opt_outs (mobile, keyword, source, created_at) "
                        "VALUES (:m, 'TD', 'reply', '2026-01-01 00:00:00')"
                    ),
                    {"m": mobile},
                )
        # Read canonical even before the migration (what the send operator reads).
        assert old.opt_outs.all() == {"13812340001", "13812340003", "13812340007"}
        forget_limits()
        migrated = Store(make_engine(url))
        assert migrated.schema_version == 2
        with migrated.engine.connect() as conn:
            raw = set(conn.execute(text("SELECT mobile FROM hbsms_opt_outs")).scalars())
        assert raw == {"13812340001", "13812340003", "13812340007"}
        assert migrated.opt_outs.opted_out(["13812340001", "+86 138 1234 0003"]) == {
            "13812340001",
            "+86 138 1234 0003",
        }
