"""The campaign view's web app, mounted on Airflow's API server by ``ui.plugin``.

Every page is behind Airflow's authentication (the UI's session cookie or a bearer token) and
its DAG permissions: a user sees a campaign only if the auth manager lets them read the DAG
that sent it. Only the charting library is served without a login.
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' annotations
# (``GetUserDep``) at run time.
from html import escape
from importlib.resources import files
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import (
    GetUserDep,
    requires_access_dag,
    requires_authenticated,
)
from fastapi import Depends, FastAPI, Query
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from airflow_provider_hbsms.ui import queries
from airflow_provider_hbsms.ui.funnel import Funnel, campaign_funnel
from airflow_provider_hbsms.ui.render import render_list, render_page
from airflow_provider_hbsms.ui.timeline import Timeline, campaign_timeline

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_hbsms.store import Store

#: Where the plugin mounts the app on the API server.
URL_PREFIX = "/hbsms-campaigns"


def _map_index(value: str) -> int:
    """The UI leaves ``{MAP_INDEX}`` unsubstituted on an unmapped task instance."""
    try:
        return int(value)
    except ValueError:
        return -1


def create_app(store_factory: "Callable[[], Store] | None" = None) -> FastAPI:
    """The campaign view's app.

    :param store_factory: opens the store (default: ``open_store()``, the ``[hbsms]``
        settings).
    """
    if store_factory is None:
        from airflow_provider_hbsms.store import open_store

        store_factory = open_store

    app = FastAPI(title="HB SMS campaigns", docs_url=None, redoc_url=None, openapi_url=None)
    static = files("airflow_provider_hbsms.ui").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    def section(store: "Store", key: str) -> tuple[Funnel, Timeline, list[dict[str, Any]]]:
        return (
            campaign_funnel(store, key),
            campaign_timeline(store, key),
            queries.recent_replies(store, key),
        )

    def link(funnel: Funnel) -> str:
        return "view?" + urlencode({"dag_id": funnel.dag_id, "key": funnel.campaign_key})

    @app.get(
        "/campaign",
        response_class=HTMLResponse,
        dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE))],
    )
    def task_instance_view(
        user: GetUserDep, dag_id: str, run_id: str, task_id: str, map_index: str = "-1"
    ) -> str:
        """The campaign a send task instance ran (else the run's campaigns)."""
        store = store_factory()
        key = queries.campaign_of_task(store, dag_id, run_id, task_id, _map_index(map_index))
        where = f"task <code>{escape(task_id)}</code> of run <code>{escape(run_id)}</code>"
        if key is not None:
            return render_page(
                "Campaign", [section(store, key)], inline_library=False, show_title=False
            )
        keys = queries.campaigns_of_run(store, dag_id, run_id)
        sections = [section(store, k) for k in keys]
        return render_page(
            "Campaign",
            sections,
            inline_library=False,
            subtitle=f"The {where} sent no campaign"
            + ("; the run's campaigns follow." if keys else "."),
            links={f.campaign_key: link(f) for f, _, _ in sections},
        )

    @app.get(
        "/run",
        response_class=HTMLResponse,
        dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.RUN))],
    )
    def run_view(user: GetUserDep, dag_id: str, run_id: str) -> str:
        """Every campaign of a DAG run."""
        store = store_factory()
        sections = [section(store, k) for k in queries.campaigns_of_run(store, dag_id, run_id)]
        return render_page(
            "Campaigns of this run",
            sections,
            inline_library=False,
            subtitle=f"DAG <code>{escape(dag_id)}</code> · run <code>{escape(run_id)}</code>",
            links={f.campaign_key: link(f) for f, _, _ in sections},
        )

    @app.get(
        "/view",
        response_class=HTMLResponse,
        dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.RUN))],
    )
    def campaign_view(
        user: GetUserDep, key: Annotated[str, Query(max_length=200)], dag_id: str = ""
    ) -> str:
        """One campaign by key (the overview's links); its DAG must be readable."""
        store = store_factory()
        funnel = campaign_funnel(store, key)
        if funnel.dag_id != dag_id:  # the permission checked must be the campaign's DAG's
            return render_page("Campaign", [], inline_library=False)
        return render_page(
            "Campaign", [section(store, key)], inline_library=False, show_title=False
        )

    @app.get(
        "/overview",
        response_class=HTMLResponse,
        dependencies=[Depends(requires_authenticated())],
    )
    def overview(user: GetUserDep) -> str:
        """Recent campaigns of the DAGs this user may read."""
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

        manager = get_auth_manager()
        allowed: dict[str, bool] = {}

        def readable(dag_id: str) -> bool:
            if dag_id not in allowed:
                allowed[dag_id] = manager.is_authorized_dag(
                    method="GET",
                    access_entity=DagAccessEntity.RUN,
                    details=DagDetails(id=dag_id or None),
                    user=user,
                )
            return allowed[dag_id]

        listed = [c for c in queries.recent_campaigns(store_factory(), 50) if readable(c["dag_id"])]
        return render_list("HB SMS campaigns", listed, "view")

    return app
