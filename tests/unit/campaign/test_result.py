"""The campaign result: one type for the send operator's XCom value, the shards' combination
and what the sensors read back; the XCom keys stay what they were."""

from __future__ import annotations

from airflow_provider_hbsms.campaign.plan import Plan
from airflow_provider_hbsms.campaign.progress import SendReport
from airflow_provider_hbsms.campaign.result import CampaignResult
from airflow_provider_hbsms.exceptions import ValidationProblem
from airflow_provider_hbsms.waiting import campaign_key_of, campaign_keys_of

PLAN = Plan(rows=5, valid=4, invalid=1, messages=4, segments=6, batches=1)
REPORT = SendReport(batches_sent=1, submitted=4, accepted=3, dropped=1, segments_sent=6)


def test_a_sent_campaign_round_trips_through_xcom() -> None:
    plan = Plan(**{**PLAN.__dict__, "problems": [ValidationProblem("mobile", "bad", row=2)]})
    result = CampaignResult.of("d/send/run", plan, REPORT)
    value = result.to_xcom()
    assert list(value) == [
        "campaign_key",
        "rows",
        "valid",
        "invalid",
        "opted_out",
        "duplicates",
        "messages",
        "batches",
        "billed_segments",
        "submitted",
        "accepted",
        "dropped_by_gateway",
        "skipped_already_sent",
        "skipped_batches",
        "resent_batches",
        "segments_sent",
        "invalid_rows",
    ]
    assert (value["accepted"], value["dropped_by_gateway"]) == (3, 1)
    assert CampaignResult.from_xcom(value) == result


def test_a_dry_run_has_no_send_counts() -> None:
    value = CampaignResult(
        "k", rows=5, billed_segments=6, dry_run=True, estimated_cost="0.30"
    ).to_xcom()
    assert value == {
        "campaign_key": "k",
        "rows": 5,
        "billed_segments": 6,
        "dry_run": True,
        "estimated_cost": "0.30",
    }


def test_shards_combine_into_one_result_the_sensors_read() -> None:
    shards = [CampaignResult.of(f"d/send/run/{i}", PLAN, REPORT) for i in range(3)]
    combined = CampaignResult.combine([*shards, None])
    value = combined.to_xcom()
    assert value["campaign_key"] == [f"d/send/run/{i}" for i in range(3)]
    assert (value["shards"], value["messages"], value["accepted"]) == (3, 12, 9)
    assert campaign_keys_of(value) == combined.keys
    assert CampaignResult.combine([]).to_xcom() == {"campaign_key": [], "shards": 0}


def test_readers_take_a_result_or_a_key() -> None:
    value = CampaignResult.of("d/send/run", PLAN).to_xcom()
    assert campaign_key_of(value) == "d/send/run"
    assert campaign_key_of({"campaign_key": "k", "unknown_field": 1}) == "k"
    assert campaign_key_of("k") == "k"
