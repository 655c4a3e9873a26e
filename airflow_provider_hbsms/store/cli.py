"""``hbsms-store``: look after the store from a shell.

``hbsms-store migrate`` brings a store to the current schema version; ``hbsms-store replay``
reads dead letters and stores quarantined items again after a fix and reports what was stored
and what is still refused; ``hbsms-store status`` counts what waits.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_hbsms.store import Store


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hbsms-store", description=__doc__.splitlines()[0])
    parser.add_argument("--store-url", help="SQLAlchemy URL (default: [hbsms] settings / SQLite)")
    parser.add_argument("--store-conn-id", help="Airflow connection id of the store")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="bring the store to the current schema version")
    replay = commands.add_parser(
        "replay", help="read dead letters and store quarantined items again"
    )
    replay.add_argument(
        "--kind", choices=("reports", "replies"), action="append", help="default: both"
    )
    replay.add_argument(
        "--opt-out-keyword",
        action="append",
        help="replies that put their sender on the opt-out list (default: the built-in ones)",
    )
    commands.add_parser("status", help="count kept bodies, dead letters and quarantined items")
    return parser


def _open(args: argparse.Namespace, migrate: bool = True) -> Store:
    from airflow_provider_hbsms.store import Store
    from airflow_provider_hbsms.store.db import make_engine, resolve_store_url

    return Store(make_engine(resolve_store_url(args.store_url, args.store_conn_id), migrate))


def status(store: Store) -> dict[str, Any]:
    """Kept bodies by state, dead letters and quarantined items not yet replayed."""
    from sqlalchemy import func, select

    from airflow_provider_hbsms.store.schema import dead_letters, inbound, quarantine

    with store.engine.connect() as conn:
        bodies: dict[str, int] = dict(
            conn.execute(select(inbound.c.state, func.count()).group_by(inbound.c.state)).all()
        )
        waiting = conn.execute(
            select(func.count()).where(dead_letters.c.replayed_at.is_(None))
        ).scalar()
        held = conn.execute(select(func.count()).where(quarantine.c.resolved_at.is_(None))).scalar()
    return {
        "schema_version": store.schema_version,
        "bodies": bodies,
        "dead_letters": waiting,
        "quarantined": held,
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "migrate":
        store = _open(args, migrate=False)
        from airflow_provider_hbsms.store.migrations import upgrade

        before = store.schema_version
        after = upgrade(store.engine)
        result: dict[str, Any] = {"from": before, "to": after}
        text = f"schema version {before} -> {after}" if before != after else f"at {after}"
    elif args.command == "replay":
        from airflow_provider_hbsms.store.keywords import resolve_opt_out_keywords
        from airflow_provider_hbsms.store.replay import replay

        store = _open(args)
        # Airflow may log to stdout while it loads the [hbsms] setting: keep stdout for --json.
        with contextlib.redirect_stdout(sys.stderr):
            keywords = resolve_opt_out_keywords(args.opt_out_keyword)
        done = replay(store, kinds=args.kind or ("reports", "replies"), opt_out_keywords=keywords)
        result = done.as_dict()
        result["refused"] = [
            {"table": table, "id": id_, "reason": reason}
            for table, id_, reason in done.still_refused
        ]
        text = (
            f"dead letters read again: {done.dead_letters} ({done.dead_letters_read} readable); "
            f"quarantined items tried: {done.quarantined}; stored: {done.stored} "
            f"({done.new} new); still refused: {len(done.still_refused)}"
        )
        text += "".join(
            f"\n  {table} #{id_}: {reason}" for table, id_, reason in done.still_refused
        )
    else:
        store = _open(args, migrate=False)  # report the store as it is
        result = status(store)
        text = "\n".join(f"{key}: {value}" for key, value in result.items())
    print(json.dumps(result, default=str) if args.json else text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
