"""Opt-out keywords from one setting, ``[hbsms] opt_out_keywords``, for every path that stores
replies: the collector, the collect operator, the collecting sensors and triggers, the push
receiver (plugin and standalone) and the replay."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from airflow_provider_hbsms.store.replies import DEFAULT_OPT_OUT_KEYWORDS

if TYPE_CHECKING:
    from collections.abc import Collection


def parse_keywords(value: str) -> frozenset[str]:
    """Comma-separated keywords (full-width commas too), blanks dropped."""
    return frozenset(k.strip() for k in value.replace("，", ",").split(",") if k.strip())


def configured_opt_out_keywords() -> frozenset[str]:
    """``[hbsms] opt_out_keywords`` (or ``AIRFLOW__HBSMS__OPT_OUT_KEYWORDS``); the defaults
    (退订, TD, T, N) when it is unset or empty."""
    value = os.environ.get("AIRFLOW__HBSMS__OPT_OUT_KEYWORDS", "")
    if not value.strip():
        try:
            from airflow.configuration import conf

            value = conf.get("hbsms", "opt_out_keywords", fallback="") or ""
        except ImportError:  # pragma: no cover - the receiver also runs without Airflow
            value = ""
    return parse_keywords(value) or DEFAULT_OPT_OUT_KEYWORDS


def resolve_opt_out_keywords(given: Collection[str] | None = None) -> frozenset[str]:
    """``given`` when it names any keyword (a per-task override), else the setting."""
    return frozenset(given) if given else configured_opt_out_keywords()
