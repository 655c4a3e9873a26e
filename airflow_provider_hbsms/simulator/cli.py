"""``hbsms-simulator``: run the gateway simulator until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from decimal import Decimal
from urllib.parse import unquote

from airflow_provider_hbsms.simulator.config import SimAccount, SimulatorConfig
from airflow_provider_hbsms.simulator.server import GatewaySimulator

_ACCOUNT_FORM = (
    "corp_id:password:service[:balance[:channel_number]], with ':' in the password written "
    "%3A and '%' written %25"
)


def _account(spec: str) -> SimAccount:
    """``corp_id:password:service[:balance[:channel_number]]``; the password is
    percent-decoded, so it can hold ':'."""
    parts = spec.split(":")
    if len(parts) < 3:
        raise argparse.ArgumentTypeError(f"--account takes {_ACCOUNT_FORM}")
    password = unquote(parts[1], errors="strict")
    account = SimAccount(corp_id=parts[0], corp_pwd=password, services=(parts[2],))
    if len(parts) > 3 and parts[3]:
        account.balance = Decimal(parts[3])
    if len(parts) > 4:
        account.channel_number = parts[4]
    return account


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hbsms-simulator", description="A local stand-in for the HB SMS HTTP gateway."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument(
        "--account",
        type=_account,
        action="append",
        # argparse %-formats help texts.
        help=_ACCOUNT_FORM.replace("%", "%%") + " (repeatable; default test:secret:svc)",
    )
    parser.add_argument("--report-delay", type=float, default=1.0, help="seconds")
    parser.add_argument("--failure-ratio", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--report-push-url", help="push reports here instead of pull")
    parser.add_argument("--reply-push-url", help="push replies here instead of pull")
    parser.add_argument("--push-timeout", type=float, default=20.0)
    parser.add_argument("--push-retries", type=int, default=3)
    parser.add_argument("--push-interval", type=float, default=2.0)
    parser.add_argument(
        "--no-record-content", action="store_true", help="don't keep texts (large benchmarks)"
    )
    return parser


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    accounts = args.account or [SimAccount()]
    for account in accounts:
        account.report_push_url = args.report_push_url
        account.reply_push_url = args.reply_push_url
    return SimulatorConfig(
        accounts=accounts,
        host=args.host,
        port=args.port,
        report_delay=args.report_delay,
        failure_ratio=args.failure_ratio,
        seed=args.seed,
        latency_ms=args.latency_ms,
        push_timeout=args.push_timeout,
        push_retries=args.push_retries,
        push_interval=args.push_interval,
        record_content=not args.no_record_content,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    simulator = GatewaySimulator(config_from_args(args)).start()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"hbsms-simulator listening on {simulator.base_url}", flush=True)
    try:
        stop.wait()
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
