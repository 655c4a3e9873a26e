"""``hbsms-receiver``: the push receiver as a standalone server (uvicorn)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from airflow_provider_hbsms.receiver.app import DEFAULT_MAX_BODY, ReceiverSettings, standalone_app


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hbsms-receiver",
        description="Receive the delivery reports and replies the HB SMS gateway pushes. The "
        "gateway's URLs: http(s)://HOST:PORT/hbsms/TOKEN/reports and .../replies.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8181)
    parser.add_argument(
        "--token",
        default=os.environ.get("HBSMS_RECEIVER_TOKEN", ""),
        help="or HBSMS_RECEIVER_TOKEN",
    )
    parser.add_argument("--store-url", help="SQLAlchemy URL (default: [hbsms] settings / SQLite)")
    parser.add_argument("--store-conn-id", help="Airflow connection id of the store")
    parser.add_argument("--allowed-ips", default="", help="comma-separated IPs / networks")
    parser.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY)
    parser.add_argument("--forwarded-for", action="store_true", help="trust X-Forwarded-For")
    parser.add_argument("--workers", type=int, default=1)
    return parser


def app_from_environment() -> Any:
    """The app built from ``HBSMS_RECEIVER_*`` variables (one per uvicorn worker)."""
    from airflow_provider_hbsms.store import open_store

    env = os.environ
    settings = ReceiverSettings(
        token=env["HBSMS_RECEIVER_TOKEN"],
        store_factory=lambda: open_store(
            url=env.get("HBSMS_RECEIVER_STORE_URL") or None,
            conn_id=env.get("HBSMS_RECEIVER_STORE_CONN_ID") or None,
        ),
        allowed_ips=[n for n in env.get("HBSMS_RECEIVER_ALLOWED_IPS", "").split(",") if n],
        max_body=int(env.get("HBSMS_RECEIVER_MAX_BODY") or DEFAULT_MAX_BODY),
        trust_forwarded_for=env.get("HBSMS_RECEIVER_FORWARDED_FOR") == "1",
    )
    return standalone_app(settings)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    args = build_parser().parse_args(argv)
    if not args.token:
        print("hbsms-receiver: a --token (or HBSMS_RECEIVER_TOKEN) is required", file=sys.stderr)
        return 2
    # Settings travel by environment so that every uvicorn worker process builds the same app.
    os.environ.update(
        {
            "HBSMS_RECEIVER_TOKEN": args.token,
            "HBSMS_RECEIVER_STORE_URL": args.store_url or "",
            "HBSMS_RECEIVER_STORE_CONN_ID": args.store_conn_id or "",
            "HBSMS_RECEIVER_ALLOWED_IPS": args.allowed_ips,
            "HBSMS_RECEIVER_MAX_BODY": str(args.max_body),
            "HBSMS_RECEIVER_FORWARDED_FOR": "1" if args.forwarded_for else "",
        }
    )
    uvicorn.run(
        "airflow_provider_hbsms.receiver.cli:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
