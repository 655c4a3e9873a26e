"""Indexing sent messages for matching reports and replies, as the store grows.

    .venv/bin/python benchmarks/bench_indexing.py [--messages 100000] [--sizes 0,200000,1000000]

A send journals each batch's messages in one row; the first reader expands them into
``hbsms_sent_messages`` (one row each under three indexes). This measures that expansion for a
campaign of random mobile numbers (as a customer list in customer order has them) into a
SQLite store already holding 0, 200,000 and 1,000,000 messages, and prints CPU and wall time
per message and the ratio to the empty store's.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time

from airflow_provider_hbsms.store import open_store
from airflow_provider_hbsms.store.ledger import SendLedger
from airflow_provider_hbsms.store.sent import SentColumns, expand_pending

BATCH = 200


def _claim(ledger: SendLedger, campaign: str, messages: int, numbers: random.Random) -> None:
    """Journal ``messages`` random-number messages as a send's claims do."""
    for batch in range(messages // BATCH):
        mobiles = [f"1{numbers.randint(3, 9)}{numbers.randrange(10**9):09d}" for _ in range(BATCH)]
        ledger.claim(
            batch_key=f"{campaign}-{batch}",
            campaign_key=campaign,
            batch_no=batch,
            endpoint="/hSmsSend.do",
            content_hash="h",
            submitted=BATCH,
            segments=BATCH,
            messages=SentColumns(
                [f"{campaign}-{batch}-{i}" for i in range(BATCH)],
                mobiles,
                [""] * BATCH,
                [1] * BATCH,
            ),
        )


def indexing_cost(already: int, messages: int) -> tuple[float, float]:
    """(wall µs, CPU µs) per message to index a campaign into a store holding ``already``."""
    numbers = random.Random(already)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(url=f"sqlite:///{tmp}/store.db")
        ledger = SendLedger(store.engine)
        if already:
            _claim(ledger, "earlier", already, numbers)
            expand_pending(store.engine)
        _claim(ledger, "measured", messages, numbers)
        wall, cpu = time.perf_counter(), time.process_time()
        expand_pending(store.engine)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        store.engine.dispose()
    return wall / messages * 1e6, cpu / messages * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--sizes", default="0,200000,1000000")
    args = parser.parse_args()
    print(f"indexing {args.messages:,} messages of random numbers into a SQLite store holding:")
    baseline = None
    for already in (int(size) for size in args.sizes.split(",")):
        wall, cpu = indexing_cost(already, args.messages)
        baseline = baseline or wall
        print(
            f"  {already:>9,} messages: {wall:5.1f} µs/msg wall, {cpu:5.1f} µs CPU"
            f"  ({wall / baseline:.2f}x the first size)"
        )


if __name__ == "__main__":
    main()
