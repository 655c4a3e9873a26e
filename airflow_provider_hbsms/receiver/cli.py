"""``hbsms-receiver``: the push receiver as a standalone server (uvicorn)."""

from __future__ import annotations

import argparse
import os
import sys

from airflow_provider_hbsms.receiver.app import (
    DEFAULT_MAX_BODY,
    ReceiverSettings,
    create_app,
    mounted,
)


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


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    from airflow_provider_hbsms.store import open_store

    args = build_parser().parse_args(argv)
    if not args.token:
        print("hbsms-receiver: a --token (or HBSMS_RECEIVER_TOKEN) is required", file=sys.stderr)
        return 2
    settings = ReceiverSettings(
        token=args.token,
        store_factory=lambda: open_store(url=args.store_url, conn_id=args.store_conn_id),
        allowed_ips=[n for n in args.allowed_ips.split(",") if n],
        max_body=args.max_body,
        trust_forwarded_for=args.forwarded_for,
    )
    app = mounted(create_app(settings))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
