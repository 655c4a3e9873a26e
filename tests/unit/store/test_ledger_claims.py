"""Ledger claims with owners: a try whose claim committed unheard gets the batch again,
another try does not."""

from __future__ import annotations

from typing import Any

from airflow_provider_hbsms.campaign.keys import batch_key
from airflow_provider_hbsms.store.sent import SentColumns


def test_a_claim_whose_commit_was_lost_is_granted_to_its_owner(store: Any) -> None:
    """A try that reconnects after its claim committed unheard claims the batch again (it
    never posted it); another try does not get it."""
    claim = {
        "batch_key": batch_key("c/lost", 0),
        "campaign_key": "c/lost",
        "batch_no": 0,
        "endpoint": "/hSmsSend.do",
        "content_hash": "h",
        "submitted": 1,
        "segments": 1,
        "messages": SentColumns(["m"], ["13500000000"], [""], [1]),
    }
    assert store.ledger.claim(**claim, owner="try-1").granted
    assert store.ledger.claim(**claim, owner="try-1").granted
    assert not store.ledger.claim(**claim, owner="try-2").granted
    assert not store.ledger.claim(**claim).granted
