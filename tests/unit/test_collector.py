"""The collector's statuses from the store alone: a message stays pending until every one of its
segments is reported."""

from __future__ import annotations

from airflow_provider_hbsms.protocol import Report


def test_pending_until_every_segment_is_reported(store) -> None:
    from airflow_provider_hbsms.store.ledger import SendLedger
    from airflow_provider_hbsms.store.sent import SentColumns

    SendLedger(store.engine).claim(
        batch_key="b",
        campaign_key="c",
        batch_no=0,
        endpoint="/hSmsSend.do",
        content_hash="h",
        submitted=1,
        segments=3,
        messages=SentColumns.of([("m", "13800000000", "", 3)]),
    )
    store.reports.add(
        [Report("13800000000", "m", 1, "0"), Report("13800000000", "m", 2, "0")], "push"
    )
    assert store.reports.summary("c").pending == 1
    store.reports.add([Report("13800000000", "m", 3, "DB:0140", "blacklisted")], "push")
    (status,) = store.reports.message_statuses("c")
    assert (status.status, status.err, status.reported) == ("failed", "DB:0140", 3)
    assert store.reports.summary("c").failed_by_reason == {"DB:0140 blacklisted": 1}
    # Re-pushed reports are kept once.
    assert store.reports.add([Report("13800000000", "m", 1, "0")], "push") == 0
