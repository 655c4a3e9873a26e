"""Raw-first storing of pulls against the simulator: a pulled page is kept before it is read,
and the collect operator replays dead letters before it pulls."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import select

from airflow_provider_hbsms.collector import Collector
from airflow_provider_hbsms.hooks.hbsms import HbSmsHook
from airflow_provider_hbsms.operators.collect import HbSmsCollectOperator
from airflow_provider_hbsms.store.intake import Intake
from airflow_provider_hbsms.store.replay import replay
from airflow_provider_hbsms.store.schema import dead_letters, inbound
from tests.fixtures.operators import context

if TYPE_CHECKING:
    from airflow_provider_hbsms.store import Store

GOOD = "<report><mobile>13800000001</mobile><msg_id>good-{n}</msg_id><err>0</err></report>"


def _body(*items: str, declare: str = "GBK", encoding: str = "gb18030") -> bytes:
    inner = "".join(items)
    return f'<?xml version="1.0" encoding="{declare}"?><reports>{inner}</reports>'.encode(encoding)


def test_a_pulled_page_is_kept_before_it_is_read(
    simulator: Any, hbsms_conn: Any, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A collector that dies between the gateway's answer and storing the items has the page
    in hbsms_inbound; replay stores it."""
    from airflow_provider_hbsms.protocol import Report

    simulator.queue_reports([Report(f"1380000{i:04d}", f"k{i}", 0, "0") for i in range(5)])

    def crash(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(Intake, "ingest", crash)
    with pytest.raises(KeyboardInterrupt):
        Collector(HbSmsHook().client, store).drain_reports()
    monkeypatch.undo()
    with store.engine.connect() as conn:
        (page,) = conn.execute(select(inbound)).all()
    assert (page.state, page.source, page.route) == ("received", "pull", "/post_report.do")
    assert b"k4" in page.body
    done = replay(store)
    assert (done.bodies, done.new) == (1, 5)
    assert replay(store).bodies == 0


def test_collect_operator_replays_before_pulling(
    simulator: Any, hbsms_conn: Any, store: Store
) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            dead_letters.insert().values(
                kind="reports",
                source="pull",
                body=_body(GOOD.format(n=3)),
                error="old",
                received_at=datetime.now(UTC),
            )
        )
    op = HbSmsCollectOperator(task_id="collect", store_url=str(store.engine.url), replay=True)
    result = op.execute(context("collect"))
    assert result["replay"]["dead_letters_read"] == 1
    assert result["replay"]["new"] == 1
    assert op.execute(context("collect"))["replay"]["dead_letters"] == 0
