"""10,000 personalized messages through the hook in 50 requests, recorded byte for byte."""

from __future__ import annotations

from airflow_provider_hbsms.hooks.hbsms import HbSmsHook
from airflow_provider_hbsms.protocol import PersonalizedItem

SPECIALS = ["&", "%", "+", "=", '"', "'", "&amp;", "%20", "a=b&c=d"]


def _text(i: int) -> str:
    return f"尊敬的会员{i}号：您的余额为{i % 997}.5元 {SPECIALS[i % len(SPECIALS)]} 详询【客服】"


def test_ten_thousand_personalized_messages_in_fifty_requests(simulator, hbsms_conn) -> None:
    hook = HbSmsHook()
    items = [
        PersonalizedItem(f"13{i % 7 + 3}{i:08d}", f"c1-{i}", _text(i), str(i % 100))
        for i in range(10_000)
    ]
    accepted = 0
    for start in range(0, len(items), 200):
        result = hook.send_personalized(items[start : start + 200])
        assert (result.submitted, result.dropped) == (200, 0)
        accepted += result.accepted
    assert accepted == 10_000
    assert simulator.stats()["requests"] == {"/hSmsSend.do": 50}
    received = simulator.received()
    assert len(received) == 10_000
    assert sorted(m.mobile for m in received) == sorted(i.mobile for i in items)
    sent = {i.msg_id: i for i in items}
    for message in received:
        item = sent[message.msg_id]
        assert message.content.encode("gbk") == item.content.encode("gbk")
        assert (message.mobile, message.ext) == (item.mobile, item.ext)
