"""uvicorn's HTTP protocols with the receiver's guard (``gate.py``): the h11 one here, the
httptools one in ``guard_httptools.py`` (importable only with httptools)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from uvicorn.protocols.http.h11_impl import H11Protocol

from airflow_provider_hbsms.receiver.gate import HeadGuard

if TYPE_CHECKING:
    import asyncio


class GuardedH11Protocol(HeadGuard, H11Protocol):  # type: ignore[misc]
    """uvicorn's h11 protocol with the receiver's guard."""


def guarded_protocol() -> type[asyncio.Protocol]:
    """The guarded protocol over httptools when it is installed (as uvicorn would pick),
    else over h11."""
    try:
        from airflow_provider_hbsms.receiver.guard_httptools import GuardedHttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is optional for uvicorn
        return GuardedH11Protocol
    return GuardedHttpToolsProtocol


__all__ = ["GuardedH11Protocol", "guarded_protocol"]
