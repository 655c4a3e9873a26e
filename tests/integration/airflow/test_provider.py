"""Provider registration: Airflow's CLI and ProvidersManager see the provider and its form."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_hbsms.get_provider_info import get_provider_info

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
FIELDS = (
    "corp_service",
    "channel_number",
    "user_id",
    "signature",
    "timeout",
    "connect_timeout",
    "deadline",
    "pacing",
    "verify",
)


def _airflow(*args: str, home: Path) -> str:
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    result = subprocess.run(
        [AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("providers", "list"), "airflow-provider-hbsms"),
        (("providers", "hooks"), "airflow_provider_hbsms.hooks.hbsms.HbSmsHook"),
        (("providers", "get", "airflow-provider-hbsms"), "0.1.0"),
    ],
)
def test_airflow_cli_lists_the_provider(tmp_path, args, expected) -> None:
    assert expected in _airflow(*args, home=tmp_path)


def test_connection_form_has_every_field() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    widgets = manager.connection_form_widgets
    for field in FIELDS:
        widget = widgets[f"extra__hbsms__{field}"]
        assert widget.field["schema"]["title"], field
    behaviour = manager.field_behaviours["hbsms"]
    assert behaviour["relabeling"]["login"] == "Account id (corp_id)"
    assert behaviour["relabeling"]["password"] == "Account password (corp_pwd)"
    for name in ("host", "port", "schema", "login", "password"):
        assert behaviour["placeholders"][name]
    for field in ("corp_service", "channel_number", "user_id"):
        assert behaviour["placeholders"][f"extra__hbsms__{field}"]


def test_every_listed_module_imports() -> None:
    import importlib

    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-hbsms"
    modules = [
        module
        for section in ("hooks", "operators", "sensors", "triggers")
        for entry in info[section]
        for module in entry["python-modules"]
    ]
    for module in modules:
        importlib.import_module(module)
    for conn in info["connection-types"]:
        module, _, name = conn["hook-class-name"].rpartition(".")
        assert getattr(importlib.import_module(module), name).conn_type == "hbsms"


def test_dag_files_importing_the_provider_do_not_load_pandas_or_pyarrow() -> None:
    """DAG files are parsed over and over: importing the operators, sensors and hooks must not
    drag in pandas or pyarrow (several hundred milliseconds); sending loads them."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import airflow_provider_hbsms.operators.send, airflow_provider_hbsms.operators.load\n"
        "import airflow_provider_hbsms.operators.collect, airflow_provider_hbsms.sensors.delivery\n"
        "import airflow_provider_hbsms.sensors.reply, airflow_provider_hbsms.hooks.hbsms\n"
        "print(sorted(m for m in ('pandas', 'pyarrow', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_no_operator_option_shadows_a_base_operator_method() -> None:
    """An option kept under a name BaseOperator uses for a method or property (``dry_run``
    was one) breaks whatever in Airflow calls it."""
    from airflow.sdk.bases.sensor import BaseSensorOperator

    from airflow_provider_hbsms.operators.collect import HbSmsCollectOperator
    from airflow_provider_hbsms.operators.load import HbSmsLoadToSqlOperator
    from airflow_provider_hbsms.operators.send import (
        HbSmsPersonalizedSendOperator,
        HbSmsSendOperator,
    )
    from airflow_provider_hbsms.sensors.delivery import HbSmsDeliveryReportSensor
    from airflow_provider_hbsms.sensors.reply import HbSmsReplySensor

    behaviour = {
        name
        for klass in BaseSensorOperator.__mro__
        for name, member in vars(klass).items()
        if callable(member) or isinstance(member, property)
    }
    assert "dry_run" in behaviour
    tasks = [
        HbSmsSendOperator(task_id="a", input=[], content="hi", dry_run=True),
        HbSmsPersonalizedSendOperator(task_id="b", input=[], template="{x}", dry_run=True),
        HbSmsCollectOperator(task_id="c"),
        HbSmsLoadToSqlOperator(task_id="d", sql_conn_id="wh"),
        HbSmsDeliveryReportSensor(task_id="e", campaign_key="k"),
        HbSmsReplySensor(task_id="f", campaign_key="k"),
    ]
    for task in tasks:
        shadowed = behaviour & set(vars(task))
        assert not shadowed, f"{type(task).__name__} shadows {sorted(shadowed)}"
