"""The fault suite: the simulator pushes and serves pulls that mix every bad value a gateway
may send with good items. Every good item is stored exactly once, every bad one quarantined
with its reason, no body is lost, on SQLite and PostgreSQL; after the fix (a schema
migration), replay stores each once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from airflow_provider_hbsms.collector import Collector
from airflow_provider_hbsms.hooks.hbsms import HbSmsHook
from airflow_provider_hbsms.protocol import Report
from airflow_provider_hbsms.protocol.xmlcodec import fragment_of
from airflow_provider_hbsms.receiver.app import ReceiverSettings
from airflow_provider_hbsms.simulator.faults import BAD_REPLIES, BAD_REPORTS
from airflow_provider_hbsms.store import Store
from airflow_provider_hbsms.store.db import make_engine
from airflow_provider_hbsms.store.migrations import LIMITS, forget_limits
from airflow_provider_hbsms.store.schema import inbound, quarantine, replies, reports
from tests.fixtures.database import legacy_store
from tests.fixtures.receiver import TOKEN, ReceiverServer
from tests.fixtures.simulator import SIM_CORP_ID

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_hbsms.simulator import GatewaySimulator

#: Items a store of schema version 1 cannot hold and version 2 can: what the fix repairs.
REPAIRED_BY_MIGRATION = {
    "reports": {"msg_id_60": "msg_id", "err_40": "err", "mobile_intl": "mobile"},
    "replies": {"ext_25": "ext"},
}


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    return str(
        request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    )


def _canonical(fragment: str) -> str:
    return fragment_of(ET.fromstring(fragment))


def _expected(kind: str, limits_version: int) -> tuple[dict[str, str], set[str]]:
    """(canonical fragment -> reason word) of the items quarantined, and names stored."""
    table = BAD_REPORTS if kind == "reports" else BAD_REPLIES
    held, stored = {}, set()
    for name, (fragment, word) in table.items():
        if limits_version == 1 and name in REPAIRED_BY_MIGRATION[kind]:
            word = REPAIRED_BY_MIGRATION[kind][name]
        if word:
            held[_canonical(fragment)] = word
        else:
            stored.add(name)
    return held, stored


def _wait(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _good_reports(prefix: str, n: int) -> list[Report]:
    return [
        Report(f"1370000{i:04d}", f"{prefix}-{i}", 0, "0", "", None, SIM_CORP_ID) for i in range(n)
    ]


def _rows(store: Store, table: Any) -> list[Any]:
    with store.engine.connect() as conn:
        return conn.execute(select(table)).all()


def _check_quarantine(store: Store, version: int) -> None:
    held = {r.fragment: r.reason for r in _rows(store, quarantine) if r.resolved_at is None}
    expected = {}
    for kind in ("reports", "replies"):
        expected.update(_expected(kind, version)[0])
    assert set(held) == set(expected)
    for fragment, word in expected.items():
        assert word in held[fragment], (fragment, held[fragment])


def _check_stored(store: Store, version: int) -> None:
    stored = _rows(store, reports)
    keys = [(r.mobile, r.msg_id, r.sub_seq) for r in stored]
    assert len(keys) == len(set(keys))  # exactly once each
    msg_ids = {r.msg_id for r in stored}
    assert {f"push-{i}" for i in range(30)} | {f"pull-{i}" for i in range(30)} <= msg_ids
    _, names = _expected("reports", version)
    for name in names:
        fragment = BAD_REPORTS[name][0]
        msg_id = ET.fromstring(fragment).findtext("msg_id")
        assert msg_id in msg_ids, name
    by_msg = {r.msg_id: r for r in stored}
    # Prefixed numbers are stored bare; a CDATA '</reports>' stays in its value.
    assert by_msg["bad-mobile_plus86"].mobile == "13900000011"
    assert by_msg["bad-mobile_86"].mobile == "13900000012"
    assert by_msg["bad-mobile_0086"].mobile == "13900000013"
    assert "cd</reports>ata" in msg_ids
    assert by_msg["bad-fail_desc_2000"].fail_desc == "失败" * 1000
    contents = {(r.mobile, r.content) for r in _rows(store, replies)}
    assert ("13812340004", "退订😀") in contents  # GB18030-only character, read right
    assert ("13812340006", "收到") in contents  # never mojibake
    assert ("13812340001", "退订") in contents
    assert len(contents) == len(_rows(store, replies))


def _reply_pages_with_bad_items(simulator: GatewaySimulator, **params: Any) -> None:
    """Serve every bad reply item on the next two pulls of replies: a pull hands over at most
    10 replies (more is refused as not the gateway's answer), so the items take two pages.
    ``time_year_1`` stands in both, so every page holds an item to quarantine."""
    names = list(BAD_REPLIES)
    first, second = names[:5], [*names[5:], "time_year_1"]
    simulator.inject_fault("bad_items", "/post_deliverMsg.do", items=first, **params)
    simulator.inject_fault("bad_items", "/post_deliverMsg.do", after=1, items=second, **params)


def test_fault_suite_every_item_stored_once_or_quarantined_then_replayed(
    store_url: str, simulator: GatewaySimulator, hbsms_conn: Any
) -> None:
    store = legacy_store(store_url)
    settings = ReceiverSettings(token=TOKEN, store_factory=lambda: store)
    with ReceiverServer(settings) as url:
        simulator.config.push_timeout, simulator.config.push_interval = 10.0, 0.2
        # Pushes: reports declared GBK (bytes GB18030), replies declared UTF-8 (bytes GB18030).
        simulator.inject_fault("bad_items", "push:reports")
        simulator.inject_fault("bad_items", "push:replies", declare="UTF-8")
        simulator.update_account(
            SIM_CORP_ID, report_push_url=f"{url}/reports", reply_push_url=f"{url}/replies"
        )
        simulator.queue_reports(_good_reports("push", 30))
        simulator.inject_reply("13812340009", "push reply")
        _wait(lambda: sum(a.outcome == "ok" for a in simulator.push_log()) >= 2)
        simulator.update_account(SIM_CORP_ID, report_push_url=None, reply_push_url=None)
    log = simulator.push_log()
    assert all(a.outcome == "ok" for a in log), log
    # Pulls: a report page in UTF-8 declared as such, a reply page in GB18030 declared GBK.
    simulator.clear_faults()
    simulator.inject_fault("bad_items", "/post_report.do", encoding="utf-8", declare="UTF-8")
    _reply_pages_with_bad_items(simulator)
    simulator.queue_reports(_good_reports("pull", 30))
    simulator.inject_reply("13812340010", "pull reply")
    collector = Collector(HbSmsHook().client, store)
    drained = collector.drain_all()
    assert [d.dead_letters for d in drained] == [0, 0]
    assert all(d.quarantined > 0 for d in drained)

    # Every body kept as received, none dead: 2 pushes, 3 pages.
    bodies = _rows(store, inbound)
    assert sorted((b.source, b.kind, b.state) for b in bodies) == [
        ("pull", "replies", "partial"),
        ("pull", "replies", "partial"),
        ("pull", "reports", "partial"),
        ("push", "replies", "partial"),
        ("push", "reports", "partial"),
    ]
    raw = [store.intake.kept_body(b.id) for b in bodies]
    assert all(b"bad-time_year_1" in body or b"time_year_1" in body for body in raw)
    _check_quarantine(store, version=1)
    _check_stored(store, version=1)
    # An opt-out in each prefixed form keeps the bare number out.
    assert {"13812340001", "13812340002", "13812340003"} <= store.opt_outs.all()

    # The fix: migrate the store; then replay, twice (the second finds nothing to do).
    command = [sys.executable, "-m", "airflow_provider_hbsms.store.cli", "--store-url", store_url]
    subprocess.run([*command, "migrate"], check=True, capture_output=True)
    first = json.loads(
        subprocess.run([*command, "--json", "replay"], check=True, capture_output=True).stdout
    )
    repaired = sum(len(v) for v in REPAIRED_BY_MIGRATION.values())
    still = len(_expected("reports", 2)[0]) + len(_expected("replies", 2)[0])
    assert (first["stored"], first["new"], first["still_refused"]) == (repaired, repaired, still)
    second = json.loads(
        subprocess.run([*command, "--json", "replay"], check=True, capture_output=True).stdout
    )
    assert (second["stored"], second["new"], second["still_refused"]) == (0, 0, still)
    forget_limits()
    after = Store(make_engine(store_url))
    assert after.schema_version == 2
    _check_quarantine(after, version=2)
    _check_stored(after, version=2)
    with after.engine.connect() as conn:
        assert (
            conn.execute(
                select(func.count()).select_from(replies).where(replies.c.ext == "1" * 25)
            ).scalar()
            == 1
        )


def test_current_schema_stores_what_gateways_send(
    store_url: str, simulator: GatewaySimulator, hbsms_conn: Any
) -> None:
    """On a store of the current schema only the truly unstorable items are quarantined."""
    store = Store(make_engine(store_url))
    assert store.schema_version == 2
    simulator.inject_fault("bad_items", "/post_report.do")
    _reply_pages_with_bad_items(simulator, encoding="gb18030", declare="GB2312")
    simulator.queue_reports(_good_reports("pull", 30))
    simulator.queue_reports(_good_reports("push", 30))
    Collector(HbSmsHook().client, store).drain_all()
    _check_quarantine(store, version=2)
    _check_stored(store, version=2)
    assert LIMITS[2].mobile >= 32
