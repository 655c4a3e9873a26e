"""The docs name every public class and every gateway code (the site itself is built with
``mkdocs build --strict`` in scripts/test.sh)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import airflow_provider_hbsms
from airflow_provider_hbsms import HbSmsError
from airflow_provider_hbsms.protocol.errors import ERROR_CODES

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: Modules whose every class is part of the public API.
PUBLIC_MODULES = (
    "airflow_provider_hbsms.client",
    "airflow_provider_hbsms.collector",
    "airflow_provider_hbsms.hooks.hbsms",
    "airflow_provider_hbsms.operators.collect",
    "airflow_provider_hbsms.operators.load",
    "airflow_provider_hbsms.operators.report",
    "airflow_provider_hbsms.operators.send",
    "airflow_provider_hbsms.protocol.errors",
    "airflow_provider_hbsms.protocol.models",
    "airflow_provider_hbsms.receiver.plugin",
    "airflow_provider_hbsms.sensors.delivery",
    "airflow_provider_hbsms.sensors.reply",
    "airflow_provider_hbsms.store",
    "airflow_provider_hbsms.testing",
    "airflow_provider_hbsms.transport",
    "airflow_provider_hbsms.triggers.delivery",
    "airflow_provider_hbsms.triggers.reply",
    "airflow_provider_hbsms.ui.funnel",
    "airflow_provider_hbsms.ui.plugin",
    "airflow_provider_hbsms.ui.queries",
    "airflow_provider_hbsms.ui.report",
    "airflow_provider_hbsms.ui.timeline",
)
#: Packages whose ``__all__`` is public.
PUBLIC_PACKAGES = ("airflow_provider_hbsms.protocol", "airflow_provider_hbsms.simulator")


def _docs_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md"))


def _all_modules() -> list[str]:
    prefix = airflow_provider_hbsms.__name__ + "."
    found = pkgutil.walk_packages(airflow_provider_hbsms.__path__, prefix)
    # Private modules (``_base``) and entry scripts (``__main__``) are left out.
    return [m.name for m in found if not any(p.startswith("_") for p in m.name.split("."))]


def public_classes() -> set[str]:
    names: set[str] = set()
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        exported = getattr(module, "__all__", None)
        for attr, value in vars(module).items():
            if not inspect.isclass(value) or attr.startswith("_"):
                continue
            if value.__module__.startswith(name) or (exported and attr in exported):
                names.add(attr)
    for name in PUBLIC_PACKAGES:
        module = importlib.import_module(name)
        names.update(n for n in module.__all__ if inspect.isclass(getattr(module, n)))
    # Every error a user can catch, wherever it is defined.
    for name in _all_modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            is_error = inspect.isclass(value) and issubclass(value, HbSmsError)
            if is_error and not attr.startswith("_"):
                names.add(attr)
    return names


def test_every_public_class_is_documented() -> None:
    text = _docs_text()
    missing = sorted(n for n in public_classes() if not re.search(rf"\b{n}\b", text))
    assert missing == []


def test_every_gateway_code_has_a_troubleshooting_row() -> None:
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    rows = {
        (match.group(1), line)
        for line in text.splitlines()
        if (match := re.match(r"\| `([-0-9#N]+)` \|", line))
    }
    documented = {code for code, _ in rows}
    for endpoint, codes in ERROR_CODES.items():
        for code, entry in codes.items():
            assert code in documented, f"{endpoint.path} code {code} has no row"
            assert any(c == code and entry.error.__name__ in line for c, line in rows), (
                f"{code}: the row does not name {entry.error.__name__}"
            )
