"""A campaign's delivery summary, 10,000 vs 1,000,000 messages in one store: counters vs recomputed.

    .venv/bin/python benchmarks/bench_summary.py [--small 10000] [--large 1000000] [--url URL]

Builds one store (a fresh SQLite file unless ``--url`` names another database) holding a small
and a large campaign, sent through the ledger and indexed as a send and its first reader do,
with delivery reports for 90% of the messages (some failed, for three reasons) stored as the
receiver stores them. Then times each campaign's summary as the deferred sensors read it
(``Store.counters.summary``) and, as the baseline, as it was recomputed from every message and
report (``ReportStore.summary``); both must agree. Targets: large/small at most 1.5x, and at
most 100 ms for the large one.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import TYPE_CHECKING

from airflow_provider_hbsms.protocol import Report
from airflow_provider_hbsms.store import Store, open_store
from airflow_provider_hbsms.store.ledger import SendLedger
from airflow_provider_hbsms.store.sent import SentColumns, expand_pending

if TYPE_CHECKING:
    from collections.abc import Callable

BATCH = 200
FAILURES = [("UNDELIV", "no such number"), ("EXPIRED", ""), ("REJECTD", "blacklisted")]


def _mobile(campaign: int, i: int) -> str:
    return f"1{3 + campaign}{i:09d}"


def build(store: Store, campaign: str, number: int, messages: int) -> None:
    """Send (claim and index) ``messages`` messages and store reports for 90% of them."""
    ledger = SendLedger(store.engine)
    for batch in range(-(-messages // BATCH)):
        first, last = batch * BATCH, min((batch + 1) * BATCH, messages)
        ids = [f"{campaign}-{i}" for i in range(first, last)]
        ledger.claim(
            batch_key=f"{campaign}-{batch}",
            campaign_key=campaign,
            batch_no=batch,
            endpoint="/hSmsSend.do",
            content_hash="h",
            submitted=len(ids),
            segments=len(ids),
            messages=SentColumns(
                ids,
                [_mobile(number, i) for i in range(first, last)],
                [""] * len(ids),
                [1] * len(ids),
            ),
        )
    expand_pending(store.engine)
    page: list[Report] = []
    for i in range(messages):
        if i % 10 == 9:
            continue  # still pending
        err, desc = ("0", "") if i % 10 < 7 else FAILURES[i % 3]
        page.append(Report(_mobile(number, i), f"{campaign}-{i}", 0, err, desc, None, "bench"))
        if len(page) == 1000:
            store.reports.add(page, "push")
            page = []
    store.reports.add(page, "push")


def timed(run: Callable[[], object], repeat: int) -> float:
    """Median wall milliseconds of ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--url", help="the store's database (default: a new SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(url=args.url or f"sqlite:///{tmp}/store.db")
        sizes = {"small": args.small, "large": args.large}
        for number, (name, messages) in enumerate(sizes.items()):
            started = time.perf_counter()
            build(store, f"bench-{name}", number, messages)
            print(f"built {name}: {messages:,} messages in {time.perf_counter() - started:.0f} s")
        counted, recomputed = {}, {}
        for name in sizes:
            key = f"bench-{name}"
            assert store.counters.summary(key) == store.reports.summary(key), name
            counted[name] = timed(lambda key=key: store.counters.summary(key), 21)
            recomputed[name] = timed(lambda key=key: store.reports.summary(key), 3)
        store.engine.dispose()
    print(f"store: {store.url.split('///')[0]}, both campaigns in it")
    for name, messages in sizes.items():
        print(
            f"  {name:<5} {messages:>9,} messages: counters {counted[name]:8.2f} ms   "
            f"recomputed (baseline) {recomputed[name]:9.1f} ms"
        )
    ratio = counted["large"] / counted["small"]
    baseline_ratio = recomputed["large"] / recomputed["small"]
    print(f"large/small: counters {ratio:.2f}x (target <= 1.5), recomputed {baseline_ratio:.1f}x")
    print(
        f"large summary: counters {counted['large']:.2f} ms (target <= 100 ms), "
        f"{recomputed['large'] / counted['large']:,.0f}x faster than recomputing"
    )


if __name__ == "__main__":
    main()
