"""One number form: every number in (report and reply mobiles, opt-outs) and out (sends) goes
through ``canonical_mobile``, so opt-outs, delivery matching and reply attribution work
whatever form the gateway or the user writes a number in."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from airflow_provider_hbsms import InvalidFieldError
from airflow_provider_hbsms.protocol import Reply, Report, normalize_mobile
from airflow_provider_hbsms.protocol.numbers import canonical_mobile
from airflow_provider_hbsms.store import Store
from airflow_provider_hbsms.store.db import make_engine
from airflow_provider_hbsms.store.migrations import forget_limits
from tests.fixtures.database import claimed, legacy_store


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
