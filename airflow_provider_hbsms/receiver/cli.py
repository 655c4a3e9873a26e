"""``hbsms-receiver``: the push receiver as a standalone server (uvicorn)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from airflow_provider_hbsms.receiver.app import DEFAULT_MAX_BODY, ReceiverSettings, standalone_app
from airflow_provider_hbsms.receiver.limits import ReceiverLimits, limit_type

#: The settings that travel from the command line to every uvicorn worker process, by
#: environment: option destination -> variable (the limits travel as ``ReceiverLimits`` says).
_ENVIRONMENT = {
    "token": "HBSMS_RECEIVER_TOKEN",
    "store_url": "HBSMS_RECEIVER_STORE_URL",
    "store_conn_id": "HBSMS_RECEIVER_STORE_CONN_ID",
    "allowed_ips": "HBSMS_RECEIVER_ALLOWED_IPS",
    "max_body": "HBSMS_RECEIVER_MAX_BODY",
    "trusted_proxies": "HBSMS_RECEIVER_TRUSTED_PROXIES",
}
#: The limits settable on the command line (``--header-timeout`` ...), with their help.
_LIMIT_OPTIONS = {
    "header_timeout": "seconds to send a request head",
    "body_timeout": "seconds to send a body",
    "idle_timeout": "seconds a kept-alive connection may be idle",
    "max_connections": "open connections per worker (default: from the descriptor limit, at "
    "most 1024)",
    "max_connections_per_address": "open connections per worker from one address (trusted "
    "proxies exempt)",
}


def _list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def build_parser() -> argparse.ArgumentParser:
    defaults = ReceiverLimits()
    parser = argparse.ArgumentParser(
        prog="hbsms-receiver",
        description="Receive the delivery reports and replies the HB SMS gateway pushes. The "
        "gateway's URLs: http(s)://HOST:PORT/hbsms/TOKEN/reports and .../replies.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8181)
    parser.add_argument(
        "--token",
        default=os.environ.get(_ENVIRONMENT["token"], ""),
        help="or HBSMS_RECEIVER_TOKEN (preferred: a command line is visible to every user)",
    )
    parser.add_argument("--store-url", help="SQLAlchemy URL (default: [hbsms] settings / SQLite)")
    parser.add_argument("--store-conn-id", help="Airflow connection id of the store")
    parser.add_argument("--allowed-ips", default="", help="comma-separated IPs / networks")
    parser.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY)
    parser.add_argument(
        "--trusted-proxies",
        default="",
        help="comma-separated IPs / networks of reverse proxies whose X-Forwarded-For is "
        "believed (default: none; the header is ignored)",
    )
    for name, text in _LIMIT_OPTIONS.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=limit_type(name),
            default=getattr(defaults, name),
            help=text,
        )
    parser.add_argument("--workers", type=int, default=1)
    return parser


def app_from_environment() -> Any:
    """The app built from ``HBSMS_RECEIVER_*`` variables (one per uvicorn worker)."""
    from airflow_provider_hbsms.receiver import gate
    from airflow_provider_hbsms.store import open_store

    env = {name: os.environ.get(var, "") for name, var in _ENVIRONMENT.items()}
    token = os.environ[_ENVIRONMENT["token"]]  # no app without a token
    limits = ReceiverLimits.from_environment()
    trusted = _list(env["trusted_proxies"])
    settings = ReceiverSettings(
        token=token,
        store_factory=lambda: open_store(
            url=env["store_url"] or None, conn_id=env["store_conn_id"] or None
        ),
        allowed_ips=_list(env["allowed_ips"]),
        max_body=int(env["max_body"] or DEFAULT_MAX_BODY),
        trusted_proxies=trusted,
        limits=limits,
    )
    app = standalone_app(settings)
    gate.install(limits, trusted)
    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    from airflow_provider_hbsms.receiver.access import parse_networks
    from airflow_provider_hbsms.receiver.guard import guarded_protocol

    args = build_parser().parse_args(argv)
    if not args.token:
        print("hbsms-receiver: a --token (or HBSMS_RECEIVER_TOKEN) is required", file=sys.stderr)
        return 2
    try:
        parse_networks(_list(args.allowed_ips), "--allowed-ips")
        parse_networks(_list(args.trusted_proxies), "--trusted-proxies")
        limits = ReceiverLimits(**{name: getattr(args, name) for name in _LIMIT_OPTIONS})
    except ValueError as exc:
        print(f"hbsms-receiver: {exc}", file=sys.stderr)
        return 2
    # Settings travel by environment so that every uvicorn worker process builds the same app.
    for name, var in _ENVIRONMENT.items():
        value = getattr(args, name)
        os.environ[var] = "" if value is None else str(value)
    os.environ.update(limits.to_environment())
    uvicorn.run(
        "airflow_provider_hbsms.receiver.cli:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        # The caller's address is worked out by the app from the proxies named above; uvicorn
        # would otherwise believe X-Forwarded-For from 127.0.0.1 (its default).
        proxy_headers=False,
        forwarded_allow_ips="",
        http=guarded_protocol(),
        timeout_keep_alive=max(1, round(limits.idle_timeout)),
        h11_max_incomplete_event_size=limits.max_header_bytes,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
