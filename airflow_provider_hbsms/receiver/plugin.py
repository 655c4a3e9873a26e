"""The push receiver on Airflow's API server, as a plugin (``fastapi_apps``).

Settings come from the ``[hbsms]`` section: ``receiver_token`` (required; without it every
push is refused), ``receiver_allowed_ips``, ``receiver_trusted_proxies`` (the reverse proxies
whose ``X-Forwarded-For`` is believed), ``receiver_body_timeout``, and the store's
``store_conn_id`` / ``store_url``, and ``opt_out_keywords`` (the replies that put their sender on
the opt-out list).
The gateway's URLs are then ``https://<api-server>/hbsms/<token>/reports`` and ``.../replies``.
"""

from __future__ import annotations

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

from airflow_provider_hbsms.receiver.app import ReceiverSettings, create_app
from airflow_provider_hbsms.receiver.limits import ReceiverLimits


def _list(key: str) -> list[str]:
    value = conf.get("hbsms", key, fallback="") or ""
    return [n.strip() for n in value.split(",") if n.strip()]


def _settings() -> ReceiverSettings:
    from airflow_provider_hbsms.store import open_store

    body_timeout = conf.get("hbsms", "receiver_body_timeout", fallback="") or ""
    limits = ReceiverLimits(body_timeout=float(body_timeout)) if body_timeout else ReceiverLimits()
    return ReceiverSettings(
        token=conf.get("hbsms", "receiver_token", fallback="") or "",
        store_factory=open_store,
        allowed_ips=_list("receiver_allowed_ips"),
        trusted_proxies=_list("receiver_trusted_proxies"),
        limits=limits,
    )


class HbSmsReceiverPlugin(AirflowPlugin):
    """Mounts the HB SMS push receiver at ``/hbsms`` on the Airflow API server."""

    name = "hbsms_receiver"
    fastapi_apps = [  # noqa: RUF012 - the plugin interface is a class attribute
        {"app": create_app(_settings()), "url_prefix": "/hbsms", "name": "HB SMS push receiver"}
    ]
