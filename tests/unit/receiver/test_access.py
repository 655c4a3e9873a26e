"""The receiver's access rules in process: the caller's address through trusted proxies, one
answer for a wrong token and a wrong address, the address checked before the token in constant
time, and refusals logged rate-limited."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from airflow_provider_hbsms.protocol import Report, build_reports_xml
from airflow_provider_hbsms.receiver.access import (
    AccessPolicy,
    AccessRefused,
    RefusalLog,
    parse_address,
)
from airflow_provider_hbsms.receiver.app import ReceiverSettings, create_app, mounted

if TYPE_CHECKING:
    from airflow_provider_hbsms.store import Store

TOKEN = "s3cret-receiver-token-for-tests"
BODY = build_reports_xml([Report("13800000001", "sec-1")])


def test_client_address_rules() -> None:
    policy = AccessPolicy(TOKEN, ["203.0.113.0/24"], ["10.0.0.0/8", "127.0.0.1"])
    # Not from a trusted proxy: the header is ignored.
    assert str(policy.client_address("198.51.100.9", ["203.0.113.7"])) == "198.51.100.9"
    # Through two trusted proxies: the rightmost hop that is not one of them.
    hops = ["203.0.113.7, 198.51.100.1", "10.1.1.1"]
    assert str(policy.client_address("127.0.0.1", hops)) == "198.51.100.1"
    # Unreadable hop: no address (refused when there is an allowlist).
    assert policy.client_address("127.0.0.1", ["garbage"]) is None
    no_proxies = AccessPolicy(TOKEN, ["203.0.113.0/24"])
    assert str(no_proxies.client_address("127.0.0.1", ["203.0.113.7"])) == "127.0.0.1"


@pytest.mark.parametrize("peer", ["::ffff:203.0.113.7", "::ffff:cb00:7107", "[::ffff:203.0.113.7]"])
def test_ipv4_mapped_addresses_are_read_as_ipv4(peer: str) -> None:
    assert str(parse_address(peer)) == "203.0.113.7"
    AccessPolicy(TOKEN, ["203.0.113.0/24"]).check(TOKEN, peer)  # allowed: no exception


def test_one_answer_for_a_wrong_token_and_a_wrong_address(store: Store) -> None:
    settings = ReceiverSettings(
        token=TOKEN, store_factory=lambda: store, allowed_ips=["192.0.2.0/24"]
    )
    client = TestClient(mounted(create_app(settings)), client=("198.51.100.1", 5000))
    right_token = client.post(f"/hbsms/{TOKEN}/reports", content=BODY)
    wrong_token = client.post("/hbsms/not-the-token/reports", content=BODY)
    assert right_token.status_code == wrong_token.status_code == 404
    assert right_token.text == wrong_token.text
    assert right_token.headers["content-length"] == wrong_token.headers["content-length"]
    allowed = TestClient(mounted(create_app(settings)), client=("192.0.2.10", 5000))
    assert allowed.post(f"/hbsms/{TOKEN}/reports", content=BODY).text == "0"


def test_address_is_checked_before_the_token(monkeypatch) -> None:
    compared: list[int] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append(len(a))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    policy = AccessPolicy(TOKEN, ["192.0.2.0/24"])
    with pytest.raises(AccessRefused, match="not allowed"):
        policy.check(TOKEN, "198.51.100.1")
    assert compared == []  # refused on the address, the token never looked at
    for guess in ("x", TOKEN, TOKEN * 10):
        with pytest.raises(AccessRefused, match="wrong token"):
            policy.check(guess + "!", "192.0.2.1")
    policy.check(TOKEN, "192.0.2.1")
    # Compared in constant time, as equal-length digests whatever the guess's length.
    assert compared == [hashlib.sha256().digest_size] * 4


def test_refusals_are_logged_rate_limited(store: Store, caplog) -> None:
    client = TestClient(mounted(create_app(ReceiverSettings(TOKEN, lambda: store))))
    with caplog.at_level(logging.WARNING):
        for i in range(50):
            assert client.post(f"/hbsms/guess-{i}/reports", content=BODY).status_code == 404
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1
    log = RefusalLog(logging.getLogger("test"), interval=0.05)
    assert log.refused("404", "x")
    assert not log.refused("404", "x")
    time.sleep(0.06)
    with caplog.at_level(logging.WARNING):
        assert log.refused("404", "refused again")
    assert "1 more like it" in caplog.records[-1].getMessage()
