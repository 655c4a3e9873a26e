"""Draining a backlog of delivery reports, as a share of the protocol's ceiling.

    .venv/bin/python benchmarks/bench_collector.py [--reports 5000]

The gateway hands over at most 100 reports per pull and one pull per 200 ms: 500 reports/s.
The simulator (in a subprocess) holds a backlog; the collector drains it into a SQLite store,
committing every batch before the next pull. Printed: reports/s and the ratio to 500/s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CREDENTIALS, SIMULATOR_ACCOUNTS, SIMULATOR_ARGS

from airflow_provider_hbsms.client import HbSmsClient
from airflow_provider_hbsms.collector import Collector
from airflow_provider_hbsms.simulator import SimulatorProcess
from airflow_provider_hbsms.store import open_store

CEILING = 100 / 0.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=5000)
    args = parser.parse_args()
    with (
        SimulatorProcess(*SIMULATOR_ARGS, accounts=SIMULATOR_ACCOUNTS) as sim,
        tempfile.TemporaryDirectory() as tmp,
    ):
        sim.admin("backlog", {"count": args.reports})
        store = open_store(url=f"sqlite:///{tmp}/store.db")
        client = HbSmsClient(sim.base_url, CREDENTIALS, pacing_dir=Path(tmp))
        started = time.perf_counter()
        result = Collector(client, store).drain_reports()
        elapsed = time.perf_counter() - started
        assert result.new == args.reports, result
        assert store.reports.rows_after(0, args.reports + 1)[-1]["id"] == args.reports
    rate = result.received / elapsed
    print(f"{result.received:,} reports in {result.pulls} pulls, {elapsed:.2f} s, into SQLite")
    print(
        f"drain rate {rate:,.0f} reports/s = {rate / CEILING:.2f}x the protocol ceiling "
        f"({CEILING:.0f}/s; target >= 0.90)"
    )


if __name__ == "__main__":
    main()
