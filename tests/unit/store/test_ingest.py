"""Raw-first storing, per-item quarantine, decoding and replay, unit by unit (the end-to-end
fault suite is tests/integration/receiver/test_ingest_faults.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from airflow_provider_hbsms import MalformedXmlError
from airflow_provider_hbsms.protocol.xmlcodec import read_replies, read_reports
from airflow_provider_hbsms.protocol.xmltext import decode_body
from airflow_provider_hbsms.receiver.app import ReceiverSettings, create_app, mounted
from airflow_provider_hbsms.simulator.faults import Fault
from airflow_provider_hbsms.store import Store, migrations
from airflow_provider_hbsms.store.replay import replay
from airflow_provider_hbsms.store.schema import dead_letters, inbound, quarantine, reports
from tests.fixtures.database import legacy_store
from tests.fixtures.receiver import TOKEN

GOOD = "<report><mobile>13800000001</mobile><msg_id>good-{n}</msg_id><err>0</err></report>"


def _body(*items: str, declare: str = "GBK", encoding: str = "gb18030") -> bytes:
    inner = "".join(items)
    return f'<?xml version="1.0" encoding="{declare}"?><reports>{inner}</reports>'.encode(encoding)


def _replies(content: str, declare: str, encoding: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="{declare}"?><delivers><deliver>'
        f"<mobile>13800000001</mobile><content>{content}</content></deliver></delivers>"
    ).encode(encoding)


# ------------------------------------------------------------------ decoding


def test_declared_utf8_that_also_decodes_as_gbk_is_read_as_utf8() -> None:
    body = _replies("收到", "UTF-8", "utf-8")
    assert "收到".encode().decode("gbk") == "鏀跺埌"  # these bytes are valid GBK too
    ((reply, _),) = read_replies(body).items
    assert reply.content == "收到"


def test_gb18030_only_characters_in_a_gbk_body_are_read() -> None:
    body = _replies("退订😀", "GBK", "gb18030")
    ((reply, _),) = read_replies(body).items
    assert reply.content == "退订😀"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('<?xml version="1.0" encoding="UTF-8"?><a>退订</a>'.encode("gbk"), "退订"),  # lies
        ('<?xml version="1.0" encoding="GBK"?><a>退订</a>'.encode(), "退订"),  # lies, not GB
        ("<a>收到</a>".encode(), "收到"),  # undeclared UTF-8
        ("<a>退订收到</a>".encode("gbk"), "退订收到"),  # undeclared GBK
        (b"\xef\xbb\xbf" + "<a>收到</a>".encode(), "收到"),  # byte order mark
        ('<?xml version="1.0" encoding="x-unknown"?><a>退订</a>'.encode("gbk"), "退订"),
    ],
)
def test_decoding_never_makes_mojibake(data: bytes, expected: str) -> None:
    assert expected in decode_body(data)


def test_bytes_that_decode_under_nothing_are_refused() -> None:
    with pytest.raises(MalformedXmlError, match="decodes neither"):
        decode_body(b"<a>\xff\xfe\xff\xff</a>")


def test_unwrapping_the_root_is_cdata_safe() -> None:
    body = (
        b"<reports><report><mobile>13800000001</mobile>"
        b"<msg_id><![CDATA[a</reports>b]]></msg_id></report></reports>"
    )
    ((report, _),) = read_reports(body).items
    assert report.msg_id == "a</reports>b"
    # The vendor's sample lost its opening tag; bare items have no root at all.
    assert len(read_reports(GOOD.format(n=1) + "</reports>").items) == 1
    assert len(read_reports(GOOD.format(n=1) + GOOD.format(n=2)).items) == 2


# ------------------------------------------------------------------ per item


def test_one_unstorable_value_costs_only_its_item(any_store: Store) -> None:
    body = _body(
        GOOD.format(n=1),
        f"<report><mobile>13800000002</mobile><msg_id>x</msg_id><sub_seq>{2**63}</sub_seq></report>",
        f"<report><mobile>13800000003</mobile><msg_id>{'m' * 101}</msg_id></report>",
        "<report><mobile>13800000004</mobile><msg_id>t</msg_id><report_time>9999-12-31T23:59:59-05:00</report_time></report>",
        GOOD.format(n=2),
    )
    for _ in range(2):  # a re-push changes nothing
        done = any_store.intake.ingest("reports", "push", "push:reports", body)
        assert (done.items, done.quarantined, done.dead_letter) == (5, 3, None)
    with any_store.engine.connect() as conn:
        assert sorted(conn.execute(select(reports.c.msg_id)).scalars()) == ["good-1", "good-2"]
        reasons = sorted(conn.execute(select(quarantine.c.reason)).scalars())
        kept = conn.execute(select(inbound)).all()
    assert len(reasons) == 3
    assert any("sub_seq" in r for r in reasons)
    assert any("msg_id has 101 characters" in r for r in reasons)
    assert any("out of range in UTC" in r for r in reasons)
    bodies = [any_store.intake.kept_body(k.id) for k in kept]
    assert [(b, k.state, k.items) for b, k in zip(bodies, kept, strict=True)] == [
        (body, "partial", 5)
    ] * 2


@pytest.mark.postgres
def test_a_value_only_the_database_refuses_is_quarantined_alone(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should the checks let a value through that the columns cannot hold (here: a store of
    schema version 1 checked with version 2's limits), the transaction is run again item by
    item and only that item is quarantined, with the database's reason."""
    store = legacy_store(postgres_url)
    monkeypatch.setattr(migrations, "limits_of", lambda engine: migrations.LIMITS[2])
    monkeypatch.setattr(
        "airflow_provider_hbsms.store.report_writes.limits_of", lambda engine: migrations.LIMITS[2]
    )
    body = _body(
        GOOD.format(n=1),
        f"<report><mobile>13800000003</mobile><msg_id>{'m' * 60}</msg_id></report>",
    )
    done = store.intake.ingest("reports", "push", "push:reports", body)
    assert (done.new, done.quarantined) == (1, 1)
    with store.engine.connect() as conn:
        (reason,) = conn.execute(select(quarantine.c.reason)).scalars()
    assert reason.startswith("the database refused it: value too long")


def test_a_store_that_is_down_gets_a_non_0_answer() -> None:
    down = Store(create_engine("postgresql+psycopg2://postgres@127.0.0.1:1/none"))
    client = TestClient(
        mounted(create_app(ReceiverSettings(token=TOKEN, store_factory=lambda: down)))
    )
    answer = client.post(f"/hbsms/{TOKEN}/reports", content=_body(GOOD.format(n=1)))
    assert (answer.status_code, answer.text) == (503, "9")


# ------------------------------------------------------------------ replay


def test_replay_reads_dead_letters_again_once(any_store: Store) -> None:
    """A body an older version refused whole (a GB18030-only character) stays a dead letter;
    this version reads it on replay, once; an unreadable one is still refused."""
    readable = _body(
        GOOD.format(n=7), "<report><mobile>13800000009</mobile><msg_id>😀</msg_id></report>"
    )
    with any_store.engine.begin() as conn:
        for body in (readable, b"not xml"):
            conn.execute(
                dead_letters.insert().values(
                    kind="reports",
                    source="push",
                    body=body,
                    error="old",
                    received_at=datetime.now(UTC),
                )
            )
    first = replay(any_store)
    assert (first.dead_letters, first.dead_letters_read, first.new) == (2, 1, 2)
    assert [table for table, _, _ in first.still_refused] == ["dead_letters"]
    second = replay(any_store)
    assert (second.dead_letters, second.new, second.stored) == (1, 0, 0)
    with any_store.engine.connect() as conn:
        assert sorted(conn.execute(select(reports.c.msg_id)).scalars()) == ["good-7", "😀"]


def test_bad_items_faults_name_their_target() -> None:
    with pytest.raises(ValueError, match="needs an endpoint"):
        Fault("bad_items", "/sms_send2.do")
    with pytest.raises(ValueError, match="unknown reports item"):
        Fault("bad_items", "/post_report.do", params={"items": ["nope"]})


def test_store_command_reports_status_and_migrates(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from airflow_provider_hbsms.store.cli import main

    old = legacy_store(sqlite_url)
    old.intake.ingest("reports", "push", "push:reports", b"not xml")
    assert main(["--store-url", sqlite_url, "--json", "status"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["schema_version"], status["dead_letters"], status["quarantined"]) == (1, 1, 0)
    assert main(["--store-url", sqlite_url, "--json", "migrate"]) == 0
    assert json.loads(capsys.readouterr().out) == {"from": 1, "to": 2}
    assert main(["--store-url", sqlite_url, "replay"]) == 0
    assert "still refused: 1" in capsys.readouterr().out
