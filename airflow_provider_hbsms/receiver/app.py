"""The push receiver as a FastAPI app, for Airflow's API server and for tests.

The gateway re-pushes a body (3 times, 2 s apart) when it does not get ``0`` within 20 s, so
the receiver answers ``0`` only after the store's transaction committed, and stores
idempotently so re-pushes are harmless. Anything it cannot accept (too large, not XML, DTDs or
entities, wrong shape) gets a non-``0`` answer and the receiver keeps serving. The endpoints
themselves are a bare ASGI app (``asgi.py``) over ``intake.py``; FastAPI only mounts it.
"""

from __future__ import annotations

from fastapi import FastAPI

from airflow_provider_hbsms.receiver.asgi import PushApp
from airflow_provider_hbsms.receiver.intake import (
    ACCEPTED,
    DEFAULT_MAX_BODY,
    REFUSED,
    PushIntake,
    ReceiverSettings,
)

__all__ = [
    "ACCEPTED",
    "DEFAULT_MAX_BODY",
    "REFUSED",
    "ReceiverSettings",
    "create_app",
    "mounted",
    "standalone_app",
]


def create_app(settings: ReceiverSettings) -> FastAPI:
    """The receiver app: ``POST /{token}/reports``, ``POST /{token}/replies``, ``GET /health``.

    Mounted under a prefix (``/hbsms`` by the plugin and the standalone server), the gateway's
    URLs are ``https://host/hbsms/<token>/reports`` and ``.../replies``.
    """
    app = FastAPI(title="HB SMS push receiver", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/", PushApp(PushIntake(settings)))
    return app


def standalone_app(settings: ReceiverSettings, prefix: str = "/hbsms") -> PushApp:
    """The endpoints under ``prefix`` with nothing around them, as ``hbsms-receiver`` serves
    them."""
    return PushApp(PushIntake(settings), prefix)


def mounted(app: FastAPI, prefix: str = "/hbsms") -> FastAPI:
    """``app`` under ``prefix``, as the standalone server serves it."""
    root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    root.mount(prefix, app)
    return root
