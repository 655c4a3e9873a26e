"""The push receiver's app in process on a SQLite store: store first, then 0; idempotent under
re-pushes; refuses what it must, keeping refused bodies as dead letters and unreadable items in
quarantine."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from airflow_provider_hbsms.protocol import Report, build_reports_xml
from airflow_provider_hbsms.protocol.models import Reply
from airflow_provider_hbsms.protocol.xmlbuild import build_replies_xml
from airflow_provider_hbsms.receiver.app import ReceiverSettings, create_app, mounted
from airflow_provider_hbsms.store.schema import dead_letters, quarantine, reports
from tests.fixtures.receiver import TOKEN, count_reports

if TYPE_CHECKING:
    from airflow_provider_hbsms.store import Store

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<reports><report><mobile>13800000000</mobile><msg_id>&lol3;</msg_id></report></reports>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<reports><report><mobile>13800000000</mobile><msg_id>&xxe;</msg_id></report></reports>"""


def _reports(n: int, start: int = 0) -> list[Report]:
    return [
        Report(f"138{i:08d}", f"m{i}", 0, "0", "", None, "test") for i in range(start, start + n)
    ]


@pytest.fixture
def client(store: Store) -> TestClient:
    settings = ReceiverSettings(token=TOKEN, store_factory=lambda: store)
    return TestClient(mounted(create_app(settings)))


def test_stores_then_answers_0_and_is_idempotent(client, store) -> None:
    body = build_reports_xml(_reports(100))
    for _ in range(3):  # the gateway's re-pushes
        response = client.post(f"/hbsms/{TOKEN}/reports", content=body)
        assert (response.status_code, response.text) == (200, "0")
    assert count_reports(store) == 100
    replies = build_replies_xml([Reply("13800000001", "退订", "12"), Reply("13800000002", "好")])
    assert client.post(f"/hbsms/{TOKEN}/replies", content=replies).text == "0"
    assert store.opt_outs.all() == {"13800000001"}
    assert client.get("/hbsms/health").json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (BILLION_LAUGHS, 400),
        (EXTERNAL_ENTITY, 400),
        (b"not xml at all", 400),
        (b"<other/>", 400),
        (b"<reports>" + b" " * (1024 * 1024 + 1) + b"</reports>", 413),
    ],
    ids=["billion-laughs", "external-entity", "not-xml", "wrong-shape", "too-large"],
)
def test_refuses_bad_bodies_and_keeps_serving(client, store, body, status) -> None:
    response = client.post(f"/hbsms/{TOKEN}/reports", content=body)
    assert (response.status_code, response.text) == (status, "9")
    good = client.post(f"/hbsms/{TOKEN}/reports", content=build_reports_xml(_reports(1)))
    assert good.text == "0"
    assert count_reports(store) == 1


def test_an_unreadable_item_is_quarantined_and_the_body_answered_0(client, store) -> None:
    """A report without msg_id cannot be stored: it is quarantined with its reason (once,
    however often the gateway pushes it), the body's other reports are stored."""
    body = (
        b"<reports><report><mobile>1</mobile></report>"
        b"<report><mobile>13800000009</mobile><msg_id>ok-1</msg_id></report></reports>"
    )
    for _ in range(2):
        assert client.post(f"/hbsms/{TOKEN}/reports", content=body).text == "0"
    assert count_reports(store) == 1
    with store.engine.connect() as conn:
        held = [(r.reason, r.fragment) for r in conn.execute(quarantine.select())]
    assert held == [
        ("a <report> lacks <mobile> or <msg_id>", "<report><mobile>1</mobile></report>")
    ]


def test_malformed_and_unsafe_bodies_are_kept_once_as_dead_letters(client, store) -> None:
    for body in (b"<reports><report>", BILLION_LAUGHS, EXTERNAL_ENTITY):
        for _ in range(3):  # the gateway pushes a refused body again
            assert client.post(f"/hbsms/{TOKEN}/reports", content=body).text == "9"
    with store.engine.connect() as conn:
        kept = [(r.body, r.error) for r in conn.execute(dead_letters.select())]
    assert [body for body, _ in kept] == [b"<reports><report>", BILLION_LAUGHS, EXTERNAL_ENTITY]
    assert kept[0][1].startswith("MalformedXmlError: malformed")
    assert all(error.startswith("UnsafeXmlError:") for _, error in kept[1:])


def test_token_and_allowlist(store) -> None:
    settings = ReceiverSettings(
        token=TOKEN, store_factory=lambda: store, allowed_ips=["10.0.0.0/8"]
    )
    client = TestClient(mounted(create_app(settings)))
    body = build_reports_xml(_reports(1))
    wrong_token = client.post("/hbsms/wrong/reports", content=body)
    wrong_address = client.post(f"/hbsms/{TOKEN}/reports", content=body)
    # One answer for both refusals: the answer never tells whether the token was right.
    assert (wrong_token.status_code, wrong_token.text) == (404, "9")
    assert (wrong_address.status_code, wrong_address.text) == (404, "9")
    no_token = TestClient(
        mounted(create_app(ReceiverSettings(token="", store_factory=lambda: store)))
    )
    assert no_token.post("/hbsms//reports", content=body).status_code in (404, 405)
    assert count_reports(store) == 0


def test_comments_cdata_and_undeclared_entities(client, store) -> None:
    """Comments and CDATA are read (by the hardened parser); an entity nobody declared is
    refused, and the predefined ones are expanded."""
    with_markup = (
        b"<reports><!-- pushed --><report><mobile>13800000001</mobile>"
        b"<msg_id><![CDATA[a<1>]]></msg_id><err>0</err></report></reports>"
    )
    assert client.post(f"/hbsms/{TOKEN}/reports", content=with_markup).text == "0"
    undeclared = b"<reports><report><mobile>1</mobile><msg_id>&boom;</msg_id></report></reports>"
    assert client.post(f"/hbsms/{TOKEN}/reports", content=undeclared).status_code == 400
    predefined = (
        b"<reports><report><mobile>13800000002</mobile><msg_id>b&amp;c</msg_id></report></reports>"
    )
    assert client.post(f"/hbsms/{TOKEN}/reports", content=predefined).text == "0"
    with store.engine.connect() as conn:
        stored = {r.msg_id for r in conn.execute(reports.select())}
    assert stored == {"a<1>", "b&c"}
