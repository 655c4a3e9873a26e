"""Writing a campaign's invalid rows to a CSV file that is safe to open in a spreadsheet, at
a place the DAG cannot steer out of its base folder."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_hbsms.campaign.inputs import as_storage_path

if TYPE_CHECKING:
    from collections.abc import Iterable

    from airflow_provider_hbsms.exceptions import ValidationProblem

#: First characters that make a spreadsheet read a cell as a formula (or, for tab and CR,
#: as the start of one in the next cell).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """``value``, with a text that a spreadsheet would run as a formula prefixed by ``'``
    (shown as text, as OWASP advises against CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def rejects_base() -> Path:
    """Where relative ``rejects_path`` values live: ``[hbsms] rejects_dir``, else
    ``$AIRFLOW_HOME/hbsms/rejects``."""
    configured = os.environ.get("AIRFLOW__HBSMS__REJECTS_DIR", "")
    if not configured:
        try:
            from airflow.configuration import conf

            configured = conf.get("hbsms", "rejects_dir", fallback="") or ""
        except ImportError:  # pragma: no cover - always installed with the operators
            configured = ""
    if configured:
        return Path(configured)
    home = os.environ.get("AIRFLOW_HOME") or os.path.join(os.path.expanduser("~"), "airflow")
    return Path(home) / "hbsms" / "rejects"


def resolve_rejects_path(value: Any) -> Any:
    """The file to write: a URL, ``ObjectStoragePath`` or absolute path as given; a relative
    path under ``rejects_base()``, which it may not climb out of (``..``, or a link leading
    elsewhere).

    :raises ValueError: a relative path leads out of the base.
    """
    path = as_storage_path(value)
    if not isinstance(path, Path) or path.is_absolute():
        return path
    base = rejects_base().resolve()
    target = (base / path).resolve()
    if not target.is_relative_to(base):
        raise ValueError(
            f"rejects_path {os.fspath(value)!r} leads out of its base folder {base} "
            "(a relative rejects_path lives under [hbsms] rejects_dir, default "
            "$AIRFLOW_HOME/hbsms/rejects); give an absolute path or URL to write elsewhere"
        )
    return target


def write_rejects(path: Any, problems: Iterable[ValidationProblem]) -> Any:
    """Write ``problems`` (row, field, rule, value) as CSV to ``path``; the file written."""
    target = resolve_rejects_path(path)
    # Local folders are made; an object store has none to make (and making a bucket's
    # "folder" could create the bucket).
    if isinstance(target, Path) or getattr(target, "protocol", "") in ("file", "local"):
        target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "field", "rule", "value"])
        writer.writerows(
            tuple(spreadsheet_safe(cell) for cell in (p.row, p.field, p.rule, p.value))
            for p in problems
        )
    return target
