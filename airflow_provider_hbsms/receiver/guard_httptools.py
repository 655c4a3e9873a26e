"""The receiver's guard over uvicorn's httptools protocol (importable only with httptools)."""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from airflow_provider_hbsms.receiver.gate import HeadGuard


class GuardedHttpToolsProtocol(HeadGuard, HttpToolsProtocol):  # type: ignore[misc]
    """uvicorn's httptools protocol with the receiver's guard."""
