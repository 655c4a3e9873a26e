"""The reply store: stored once each, attributed to the message answered, opt-outs applied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from airflow_provider_hbsms.protocol.models import GATEWAY_TZ, Reply
from airflow_provider_hbsms.store.replies import normalize_keyword, reply_key
from airflow_provider_hbsms.store.schema import sent_messages
from tests.fixtures.threads import run_together

if TYPE_CHECKING:
    from airflow_provider_hbsms.store import Store

NOW = datetime.now(UTC).replace(microsecond=0)


def sent(store: Store, msg_id: str, mobile: str, campaign: str, ext: str, ago: timedelta) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            sent_messages.insert().values(
                msg_id=msg_id,
                mobile=mobile,
                campaign_key=campaign,
                batch_key=f"{campaign}-0",
                ext=ext,
                segments=1,
                sent_at=NOW - ago,
            )
        )


def reply(mobile: str, content: str, ext: str = "", ago: timedelta = timedelta(0)) -> Reply:
    # The gateway speaks China time; the store must compare it with UTC send times.
    return Reply(mobile, content, ext, (NOW - ago).astimezone(GATEWAY_TZ), "corp")


def test_replies_are_kept_once(any_store: Store) -> None:
    batch = [reply("13800000001", "好的"), reply("13800000002", "收到", "7")]
    first = any_store.replies.add(batch, source="push")
    assert (first.new, len(first.ids)) == (2, 2)
    assert any_store.replies.add(batch, source="pull").new == 0
    # Same number, text and ext at another time is another reply.
    later = reply("13800000001", "好的", ago=timedelta(minutes=-1))
    assert any_store.replies.add([later, later], source="push").new == 1
    assert reply_key(later) != reply_key(batch[0])
    assert [r.content for r in any_store.replies.find()] == ["好的", "收到", "好的"]


def test_attribution_by_ext_then_by_number(any_store: Store) -> None:
    mobile = "13800000001"
    sent(any_store, "old-promo", mobile, "promo-1", "55", timedelta(days=2))
    sent(any_store, "promo", mobile, "promo-2", "55", timedelta(hours=3))
    sent(any_store, "notice", mobile, "notice", "", timedelta(hours=1))
    sent(any_store, "future", mobile, "promo-3", "55", timedelta(hours=-2))  # after the reply
    any_store.replies.add(
        [
            reply(mobile, "promo answer", "55"),
            reply(mobile, "answer to old promo", "55", ago=timedelta(days=1)),
            reply(mobile, "unknown ext", "99"),
            reply("13999999999", "stranger"),
        ],
        source="pull",
    )
    found = {r.content: (r.campaign_key, r.msg_id) for r in any_store.replies.find()}
    assert found == {
        "promo answer": ("promo-2", "promo"),
        "answer to old promo": ("promo-1", "old-promo"),
        "unknown ext": ("notice", "notice"),  # falls back to the latest message to the number
        "stranger": (None, None),
    }
    assert [r.content for r in any_store.replies.find(campaign_key="promo-2")] == ["promo answer"]


@pytest.mark.parametrize(
    ("content", "opts_out"),
    [
        ("退订", True),
        ("  td ", True),
        ("ＴＤ", True),  # full-width letters
        ("t", True),
        ("n。", True),
        ("退订!", True),
        ("TD please", False),
        ("不要退订", False),
        ("NO", False),
    ],
)
def test_opt_out_keywords(store: Store, content: str, opts_out: bool) -> None:
    added = store.replies.add([reply("13800000001", content)], source="push")
    assert (added.opted_out == ["13800000001"]) is opts_out
    assert (store.opt_outs.opted_out(["13800000001"]) == {"13800000001"}) is opts_out


def test_custom_keywords_and_opt_out_once(store: Store) -> None:
    keywords = {"STOP", "取消"}
    added = store.replies.add(
        [reply("13800000001", "stop"), reply("13800000002", "TD")],
        source="pull",
        opt_out_keywords=keywords,
    )
    assert added.opted_out == ["13800000001"]
    again = store.replies.add(
        [reply("13800000001", "取消", ago=timedelta(seconds=-5))],
        source="pull",
        opt_out_keywords=keywords,
    )
    assert (again.new, again.opted_out) == (1, [])  # already on the list
    assert normalize_keyword(" ｓｔｏｐ。") == "STOP"


def test_opt_out_shares_the_replys_transaction(store: Store) -> None:
    def failing_unit_of_work() -> None:
        with store.engine.begin() as conn:
            store.replies.add([reply("13800000001", "退订")], source="push", connection=conn)
            raise RuntimeError("the caller's work failed")

    with pytest.raises(RuntimeError):
        failing_unit_of_work()
    assert store.replies.find() == []
    assert store.opt_outs.all() == set()


def test_find_filters_and_rows_after(any_store: Store) -> None:
    any_store.replies.add(
        [
            reply("13800000001", "Yes, confirm", "1"),
            reply("13800000002", "no thanks", "1"),
            reply("13800000001", "CONFIRMED", "2"),
        ],
        source="push",
    )
    assert [r.content for r in any_store.replies.find(pattern="confirm")] == [
        "Yes, confirm",
        "CONFIRMED",
    ]
    assert [r.content for r in any_store.replies.find(mobiles=["13800000002"])] == ["no thanks"]
    assert [r.content for r in any_store.replies.find(ext="2")] == ["CONFIRMED"]
    first = any_store.replies.find()[0]
    assert [r.content for r in any_store.replies.find(after_id=first.id)] == [
        "no thanks",
        "CONFIRMED",
    ]
    assert any_store.replies.find(since=datetime.now(UTC) + timedelta(minutes=1)) == []
    assert first.received_at.tzinfo is not None
    assert first.reply_time == NOW
    rows = any_store.replies.rows_after(first.id, 1)
    assert [r["content"] for r in rows] == ["no thanks"]


@pytest.mark.postgres
def test_concurrent_writers_keep_each_reply_once(pg_store: Store) -> None:
    batch = [reply(f"1380000{i:04d}", "退订" if i % 2 else "ok") for i in range(60)]
    results = run_together(lambda _: pg_store.replies.add(batch, source="push"), 3)
    assert sum(r.new for r in results) == 60
    assert sum(len(r.opted_out) for r in results) == 30
    assert len(pg_store.replies.find()) == 60
    assert len(pg_store.opt_outs.all()) == 30
