"""The campaign view in the Airflow UI, as a plugin (``fastapi_apps`` + ``external_views``).

Registered through the ``airflow.plugins`` entry point, so a default Airflow loads it. It adds
a "Campaign" tab to every task instance, a "Campaigns" tab to every DAG run, and "Campaigns"
(recent campaigns) to the navigation; each opens a page of ``ui.app`` (mounted at
``/hbsms-campaigns``) in the UI's frame.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_hbsms.ui.app import URL_PREFIX, create_app

_TI = "dag_id={DAG_ID}&run_id={RUN_ID}&task_id={TASK_ID}&map_index={MAP_INDEX}"


class HbSmsCampaignViewPlugin(AirflowPlugin):
    """Shows each campaign's funnel, delivery over time, failures and replies in the UI."""

    name = "hbsms_campaigns"
    fastapi_apps = [  # noqa: RUF012 - the plugin interface is a class attribute
        {"app": create_app(), "url_prefix": URL_PREFIX, "name": "HB SMS campaign view"}
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "Campaign",
            "destination": "task_instance",
            "url_route": "hbsms-campaign",
            "href": f"{URL_PREFIX}/campaign?{_TI}",
        },
        {
            "name": "Campaigns",
            "destination": "dag_run",
            "url_route": "hbsms-run-campaigns",
            "href": f"{URL_PREFIX}/run?dag_id={{DAG_ID}}&run_id={{RUN_ID}}",
        },
        {
            "name": "Campaigns",
            "destination": "nav",
            "url_route": "hbsms-campaigns",
            "href": f"{URL_PREFIX}/overview",
        },
    ]
