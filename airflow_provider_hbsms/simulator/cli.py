"""``hbsms-simulator``: run the gateway simulator until interrupted."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_hbsms.simulator.config import SimAccount, SimulatorConfig
from airflow_provider_hbsms.simulator.server import GatewaySimulator

if TYPE_CHECKING:
    from collections.abc import Mapping

#: The environment variable that may hold the accounts (JSON), instead of a file.
ACCOUNTS_ENV = "HBSMS_SIMULATOR_ACCOUNTS"
_ACCOUNTS_FORM = (
    'a JSON list of accounts: [{"corp_id": "corp", "corp_pwd": "...", "services": ["svc"], '
    '"balance": "1000", "channel_number": "10657"}]'
)
_FIELDS = {"corp_id", "corp_pwd", "service", "services", "balance", "channel_number", "signature"}


class AccountsError(ValueError):
    """The accounts file or variable is not what the simulator reads."""


def parse_accounts(text: str, where: str) -> list[SimAccount]:
    """Accounts from their JSON form.

    :param text: the JSON text.
    :param where: the file or variable it came from, for messages.
    :raises AccountsError: naming ``where``, the account and the field.
    """
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AccountsError(f"{where}: not JSON ({exc.msg}); expected {_ACCOUNTS_FORM}") from None
    if not isinstance(entries, list) or not entries:
        raise AccountsError(f"{where}: expected {_ACCOUNTS_FORM}")
    return [_account(entry, f"{where}: account {i}") for i, entry in enumerate(entries)]


def _account(entry: Any, where: str) -> SimAccount:
    if not isinstance(entry, dict):
        raise AccountsError(f"{where}: expected an object")
    unknown = set(entry) - _FIELDS
    if unknown:
        raise AccountsError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    for name in ("corp_id", "corp_pwd"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            raise AccountsError(f"{where}: {name} must be a non-empty string")
    services = entry.get("services", [entry["service"]] if "service" in entry else ["svc"])
    if not isinstance(services, list) or not all(isinstance(x, str) for x in services):
        raise AccountsError(f"{where}: services must be a list of strings")
    account = SimAccount(
        corp_id=entry["corp_id"], corp_pwd=entry["corp_pwd"], services=tuple(services)
    )
    if "balance" in entry:
        try:
            account.balance = Decimal(str(entry["balance"]))
        except InvalidOperation:
            raise AccountsError(f"{where}: balance must be a number") from None
    account.channel_number = str(entry.get("channel_number", ""))
    account.signature = str(entry.get("signature", ""))
    return account


def _refuse_account_flag(spec: str) -> SimAccount:
    raise argparse.ArgumentTypeError(
        "account passwords are no longer taken on the command line (any user can read them "
        f"with ps): put the accounts in --accounts-file or ${ACCOUNTS_ENV}, as {_ACCOUNTS_FORM}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hbsms-simulator", description="A local stand-in for the HB SMS HTTP gateway."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument(
        "--accounts-file",
        type=Path,
        help=f"{_ACCOUNTS_FORM} (keep it readable by its owner only); else ${ACCOUNTS_ENV}; "
        "else one account test / secret / svc",
    )
    parser.add_argument("--account", type=_refuse_account_flag, help=argparse.SUPPRESS)
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


def load_accounts(path: Path | None, environ: Mapping[str, str] | None = None) -> list[SimAccount]:
    """The accounts from ``path``, else from ``$HBSMS_SIMULATOR_ACCOUNTS``, else the default.

    :param path: the accounts file, if given.
    :param environ: the environment (``os.environ`` by default).
    """
    variables: Mapping[str, str] = os.environ if environ is None else environ
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise AccountsError(f"{path}: cannot be read ({exc.strerror})") from None
        return parse_accounts(text, str(path))
    if variables.get(ACCOUNTS_ENV):
        return parse_accounts(variables[ACCOUNTS_ENV], f"${ACCOUNTS_ENV}")
    return [SimAccount()]


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    accounts = load_accounts(args.accounts_file)
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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except AccountsError as exc:
        parser.error(str(exc))
    simulator = GatewaySimulator(config).start()
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
