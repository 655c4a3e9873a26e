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
    assert b"k4" in store.intake.kept_body(page.id)
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


@pytest.mark.parametrize(("kind", "limit"), [("reports", 100), ("replies", 10)])
def test_a_pulled_page_of_more_items_than_the_protocol_hands_over_is_a_dead_letter(
    store: Store, kind: str, limit: int
) -> None:
    """The gateway hands over at most 100 reports or 10 replies a pull: a longer page is not
    its answer. It is kept as received and as a dead letter, nothing of it is stored until
    someone replays it, and the replay stores every item once."""
    from airflow_provider_hbsms.protocol import Reply, Report
    from airflow_provider_hbsms.protocol.endpoints import Endpoint
    from airflow_provider_hbsms.protocol.xmlbuild import build_replies_xml, build_reports_xml
    from airflow_provider_hbsms.store.schema import replies, reports
    from airflow_provider_hbsms.testing import FakeHbSmsClient

    n = limit + 1
    page = (
        build_reports_xml([Report(f"1380000{i:04d}", f"big{i}", 0, "0") for i in range(n)])
        if kind == "reports"
        else build_replies_xml([Reply(f"1390000{i:04d}", f"reply {i}", "7") for i in range(n)])
    )

    class OversizedPage(FakeHbSmsClient):
        handed_over = False

        def pull_raw(self, endpoint: Endpoint) -> bytes | None:
            wanted = Endpoint.PULL_REPORTS if kind == "reports" else Endpoint.PULL_REPLIES
            if endpoint is not wanted or self.handed_over:
                return None
            self.handed_over = True
            return page

    collector = Collector(OversizedPage(), store)  # type: ignore[arg-type]
    collector.drain([kind])
    table = reports if kind == "reports" else replies
    with store.engine.connect() as conn:
        (kept,) = conn.execute(select(inbound)).all()
        (letter,) = conn.execute(select(dead_letters)).all()
        assert conn.execute(select(table)).all() == []
    assert (kept.source, store.intake.kept_body(kept.id)) == ("pull", page)
    assert f"{n} items in one body (at most {limit})" in letter.error
    done = replay(store)
    assert done.new == n
    with store.engine.connect() as conn:
        assert len(conn.execute(select(table)).all()) == n
