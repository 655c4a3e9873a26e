"""The receiver as deployed: the API-server plugin from ``[hbsms]`` settings, and the CLI."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from airflow_provider_hbsms.protocol import Report, build_reports_xml
from airflow_provider_hbsms.protocol.models import Reply
from airflow_provider_hbsms.protocol.xmlbuild import build_replies_xml
from airflow_provider_hbsms.receiver import cli
from airflow_provider_hbsms.store import open_store

if TYPE_CHECKING:
    from collections.abc import Iterator

TOKEN = "plugin-token"


@pytest.fixture(autouse=True)
def _restore_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Rebuild the plugin under the real settings once a test has reloaded it under its own."""
    yield
    monkeypatch.undo()
    import airflow_provider_hbsms.receiver.plugin as plugin

    importlib.reload(plugin)


def _plugin_app(monkeypatch: pytest.MonkeyPatch, sqlite_url: str, **settings: str) -> FastAPI:
    """The plugin's app built under these ``[hbsms]`` settings, mounted as the API server does."""
    monkeypatch.setenv("AIRFLOW__HBSMS__STORE_URL", sqlite_url)
    for key, value in settings.items():
        monkeypatch.setenv(f"AIRFLOW__HBSMS__{key.upper()}", value)
    import airflow_provider_hbsms.receiver.plugin as plugin

    plugin = importlib.reload(plugin)  # the plugin reads its settings when imported
    (spec,) = plugin.HbSmsReceiverPlugin.fastapi_apps
    assert (spec["url_prefix"], plugin.HbSmsReceiverPlugin.name) == ("/hbsms", "hbsms_receiver")
    root = FastAPI()
    root.mount(spec["url_prefix"], spec["app"])
    return root


def test_plugin_serves_from_airflow_settings(monkeypatch, sqlite_url) -> None:
    client = TestClient(_plugin_app(monkeypatch, sqlite_url, receiver_token=TOKEN))
    body = build_reports_xml([Report("13800000001", "p1"), Report("13800000002", "p2", 0, "E")])
    assert client.post(f"/hbsms/{TOKEN}/reports", content=body).text == "0"
    replies = build_replies_xml([Reply("13800000003", "TD")])
    assert client.post(f"/hbsms/{TOKEN}/replies", content=replies).text == "0"
    assert client.post("/hbsms/guessed/reports", content=body).status_code == 404
    assert client.get("/hbsms/health").json() == {"status": "ok"}
    store = open_store(url=sqlite_url)
    summary = store.reports.summary(msg_ids=["p1", "p2"])
    assert (summary.delivered, summary.failed) == (1, 1)
    assert store.opt_outs.all() == {"13800000003"}


def test_plugin_without_token_refuses_everything(monkeypatch, sqlite_url) -> None:
    client = TestClient(_plugin_app(monkeypatch, sqlite_url, receiver_token=""))
    body = build_reports_xml([Report("13800000001", "p1")])
    assert client.post("/hbsms/anything/reports", content=body).status_code == 404
    assert open_store(url=sqlite_url).reports.rows_after(0, 10) == []


def test_plugin_allowlist(monkeypatch, sqlite_url) -> None:
    app = _plugin_app(
        monkeypatch, sqlite_url, receiver_token=TOKEN, receiver_allowed_ips="192.0.2.0/24"
    )
    body = build_reports_xml([Report("13800000001", "p1")])
    # The test client calls from "testclient", which is no address in the allowlist.
    # Refused with the answer a wrong token gets: 404.
    assert TestClient(app).post(f"/hbsms/{TOKEN}/reports", content=body).status_code == 404


def test_cli_requires_a_token(monkeypatch, capsys) -> None:
    monkeypatch.delenv("HBSMS_RECEIVER_TOKEN", raising=False)
    assert cli.main(["--port", "0"]) == 2
    assert "--token" in capsys.readouterr().err


def test_cli_app_from_environment(monkeypatch, sqlite_url) -> None:
    monkeypatch.setenv("HBSMS_RECEIVER_TOKEN", TOKEN)
    monkeypatch.setenv("HBSMS_RECEIVER_STORE_URL", sqlite_url)
    monkeypatch.setenv("HBSMS_RECEIVER_MAX_BODY", "2000")
    client = TestClient(cli.app_from_environment())
    small = build_reports_xml([Report("13800000001", "c1")])
    large = build_reports_xml([Report(f"138000{i:05d}", f"c{i}") for i in range(100)])
    assert client.post(f"/hbsms/{TOKEN}/reports", content=small).text == "0"
    assert client.post(f"/hbsms/{TOKEN}/reports", content=large).status_code == 413
    assert len(open_store(url=sqlite_url).reports.rows_after(0, 10)) == 1
