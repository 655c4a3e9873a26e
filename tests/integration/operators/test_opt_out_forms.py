"""An opt-out pushed in any prefixed number form keeps the bare number out of the next send."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi.testclient import TestClient

from airflow_provider_hbsms.operators.send import HbSmsSendOperator
from airflow_provider_hbsms.protocol import Reply
from airflow_provider_hbsms.protocol.numbers import canonical_mobile
from airflow_provider_hbsms.protocol.xmlbuild import build_replies_xml
from airflow_provider_hbsms.receiver.app import ReceiverSettings, create_app, mounted
from tests.fixtures.inputs import FORMS
from tests.fixtures.operators import context
from tests.fixtures.receiver import TOKEN

if TYPE_CHECKING:
    from airflow_provider_hbsms.store import Store


def test_an_opt_out_in_each_prefixed_form_keeps_the_bare_number_out(
    any_store: Store, simulator: Any, hbsms_conn: Any
) -> None:
    client = TestClient(
        mounted(create_app(ReceiverSettings(token=TOKEN, store_factory=lambda: any_store)))
    )
    body = build_replies_xml([Reply(form, "退订") for form in FORMS])
    assert client.post(f"/hbsms/{TOKEN}/replies", content=body).text == "0"
    bare = [canonical_mobile(form) for form in FORMS]
    assert any_store.opt_outs.all() == set(bare)
    assert any_store.opt_outs.opted_out(FORMS) == set(FORMS)
    stored = {r.mobile for r in any_store.replies.find()}
    assert stored == set(bare)
    op = HbSmsSendOperator(
        task_id="next",
        input=[*bare, "13812340009"],
        content="下一次活动",
        store_url=any_store.engine.url.render_as_string(hide_password=False),
    )
    result = op.execute(context("next"))
    assert result["opted_out"] == len(FORMS)
    assert [m.mobile for m in simulator.received()] == ["13812340009"]
