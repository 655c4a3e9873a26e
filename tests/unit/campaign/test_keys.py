"""Campaign keys: the same task instance always gets the same campaign key, batch keys and
message-id prefix; different ones never share them; a long key still fits the ledger."""

from __future__ import annotations

import hashlib
import re

import pytest

from airflow_provider_hbsms.campaign.keys import (
    batch_key,
    campaign_key,
    content_hash,
    msg_id_prefix,
)

HEX = re.compile(r"[0-9a-f]+")
LIMIT = 200  # the ledger's campaign_key column


def test_campaign_key_names_the_task_instance() -> None:
    assert campaign_key("d", "send", "manual__1") == "d/send/manual__1"
    assert campaign_key("d", "send", "manual__1", -1) == "d/send/manual__1"
    assert campaign_key("d", "send", "manual__1", 0) == "d/send/manual__1/0"
    assert campaign_key("d", "send", "manual__1", 17) == "d/send/manual__1/17"


def test_mapped_and_unmapped_instances_get_different_keys() -> None:
    keys = {campaign_key("d", "t", "r", i) for i in range(-1, 50)}
    assert len(keys) == 51


def test_a_key_at_the_limit_is_kept_as_it_is() -> None:
    run_id = "r" * (LIMIT - len("d/t/"))
    key = campaign_key("d", "t", run_id)
    assert len(key) == LIMIT
    assert key == f"d/t/{run_id}"


@pytest.mark.parametrize("extra", [1, 50, 5000])
def test_a_longer_key_is_shortened_to_the_limit_with_a_digest(extra: int) -> None:
    run_id = "r" * (LIMIT - len("d/t/") + extra)
    full = f"d/t/{run_id}"
    key = campaign_key("d", "t", run_id)
    assert len(key) == LIMIT
    readable, digest = key.split("#")
    assert full.startswith(readable)  # still readable at the front
    assert len(digest) == 40
    assert HEX.fullmatch(digest)
    assert campaign_key("d", "t", run_id) == key  # stable


def test_long_keys_that_differ_only_at_the_end_stay_apart() -> None:
    prefix = "scheduled__" + "x" * 300
    one = campaign_key("dag", "send", prefix + "A", 3)
    other = campaign_key("dag", "send", prefix + "B", 3)
    mapped = campaign_key("dag", "send", prefix + "A", 4)
    assert len({one, other, mapped}) == 3
    assert one.split("#")[0] == other.split("#")[0]  # the same readable part


def test_batch_keys_are_stable_and_distinct() -> None:
    key = batch_key("d/send/r", 0)
    assert key == batch_key("d/send/r", 0)
    assert len(key) == 40
    assert HEX.fullmatch(key)
    keys = {batch_key(c, n) for c in ("d/send/r", "d/send/r/0", "d/send/r2") for n in range(100)}
    assert len(keys) == 300


def test_batch_keys_do_not_run_campaign_and_number_together() -> None:
    # "c1" + batch 2 and "c" + batch 12 read the same if joined without a separator.
    assert batch_key("c1", 2) != batch_key("c", 12)
    assert batch_key("c", 12) != batch_key("c1", 2)


def test_msg_id_prefix_is_short_stable_and_per_campaign() -> None:
    prefix = msg_id_prefix("d/send/r")
    assert prefix == msg_id_prefix("d/send/r")
    assert len(prefix) == 12
    assert HEX.fullmatch(prefix)
    assert prefix != msg_id_prefix("d/send/r/0")
    assert prefix != batch_key("d/send/r", 0)[:12]  # not a batch key's start either


def test_content_hash_is_the_sha256_of_what_is_sent() -> None:
    wire = "13800138000\x1f你好".encode("gbk")
    assert content_hash(wire) == hashlib.sha256(wire).hexdigest()
    assert content_hash(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert content_hash(wire) != content_hash(wire + b" ")
