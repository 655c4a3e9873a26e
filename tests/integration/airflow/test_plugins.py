"""The plugins load in a default Airflow: through ``airflow.plugins_manager``, default settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from airflow_provider_hbsms.get_provider_info import get_provider_info

_PROBE = """
import json
from airflow import plugins_manager, settings
from airflow.plugins_manager import get_fastapi_plugins, get_plugin_info
plugins_manager.ensure_plugins_loaded()
apps, _ = get_fastapi_plugins()
print("RESULT " + json.dumps({
    "lazy": settings.LAZY_LOAD_PROVIDERS,
    "plugins": {p["name"]: str(p["source"]) for p in get_plugin_info()},
    "apps": sorted(a["url_prefix"] for a in apps),
    "views": [v for p in get_plugin_info() for v in p["external_views"]],
    "errors": plugins_manager.get_import_errors(),
}))
"""


def test_plugins_load_under_default_settings(tmp_path) -> None:
    # A fresh AIRFLOW_HOME and no [core] overrides: lazy_discover_providers keeps its default.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    # Run outside the checkout: its egg-info would list the distribution a second time.
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [x for x in result.stdout.splitlines() if x.startswith("RESULT ")]
    assert lines, result.stdout[-3000:] + result.stderr[-3000:]
    line = lines[0]
    found = json.loads(line.removeprefix("RESULT "))
    assert found["lazy"] is True  # the default, under which provider-info plugins are ignored
    assert found["errors"] == {}
    assert set(found["plugins"]) >= {"hbsms_receiver", "hbsms_campaigns"}
    assert "EntryPoint(name='hbsms'" in found["plugins"]["hbsms_receiver"]
    assert {"/hbsms", "/hbsms-campaigns"} <= set(found["apps"])
    routes = {v["url_route"]: v for v in found["views"]}
    assert routes["hbsms-campaign"]["destination"] == "task_instance"
    assert routes["hbsms-run-campaigns"]["destination"] == "dag_run"
    assert routes["hbsms-campaigns"]["destination"] == "nav"
    for view in routes.values():
        assert view["href"].startswith("/hbsms-campaigns/")


def test_one_registration_only() -> None:
    # A plugin listed in the provider info too would be loaded twice when
    # lazy_discover_providers is False ("already registered").
    assert "plugins" not in get_provider_info()


def test_project_urls_for_the_providers_page() -> None:
    # Airflow's Providers page links to the Documentation URL.
    from importlib.metadata import metadata

    urls = dict(
        entry.split(", ", 1) for entry in metadata("airflow-provider-hbsms").get_all("Project-URL")
    )
    assert set(urls) >= {"Documentation", "Source", "Changelog"}
    assert all(url.startswith("https://") for url in urls.values())
