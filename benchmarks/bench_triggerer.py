"""500 deferred delivery sensors in one triggerer: event-loop lag and store queries per poke.

    .venv/bin/python benchmarks/bench_triggerer.py [--sensors 500] [--messages 400]
        [--poll 1.0] [--seconds 20] [--url URL]

Builds a store (a fresh SQLite file unless ``--url`` names another database) with one campaign
per sensor, ``--messages`` messages each, 90% of them reported (so no sensor finishes), then
runs that many ``HbSmsDeliveryTrigger`` in one asyncio loop, as the triggerer does, each
checking every ``--poll`` seconds (``collect=False``: the store alone, no gateway pulls). A
ticker on the same loop measures how late it wakes (the event-loop lag); a SQLAlchemy hook
counts the statements each check runs. Run twice: the summary as the triggers read it (the
delivery counters) and, as the baseline, recomputed from every message and report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import tempfile
import threading
import time
from typing import Any

from sqlalchemy import event

from airflow_provider_hbsms.protocol import Report
from airflow_provider_hbsms.store import open_store
from airflow_provider_hbsms.store.ledger import SendLedger
from airflow_provider_hbsms.store.sent import SentColumns, expand_pending
from airflow_provider_hbsms.triggers.delivery import HbSmsDeliveryTrigger
from airflow_provider_hbsms.waiting import DeliveryCondition

TICK = 0.05


def build(url: str, sensors: int, messages: int) -> None:
    store = open_store(url=url)
    ledger = SendLedger(store.engine)
    for c in range(sensors):
        campaign = f"trig-{c}"
        ids = [f"{campaign}-{i}" for i in range(messages)]
        mobiles = [f"1{3 + c % 6}{c:04d}{i:05d}" for i in range(messages)]
        for start in range(0, messages, 200):
            part = slice(start, start + 200)
            ledger.claim(
                batch_key=f"{campaign}-{start}",
                campaign_key=campaign,
                batch_no=start // 200,
                endpoint="/hSmsSend.do",
                content_hash="h",
                submitted=len(ids[part]),
                segments=len(ids[part]),
                messages=SentColumns(
                    ids[part], mobiles[part], [""] * len(ids[part]), [1] * len(ids[part])
                ),
            )
        expand_pending(store.engine)
        store.reports.add(
            [
                Report(mobiles[i], ids[i], 0, "0" if i % 7 else "UNDELIV", "", None, "bench")
                for i in range(messages)
                if i % 10 != 9
            ],
            "push",
        )


class Counting:
    """Counts statements and checks while the triggers run."""

    def __init__(self) -> None:
        self.statements = 0
        self.checks = 0
        self.check_seconds: list[float] = []
        self.lock = threading.Lock()


async def run(
    url: str, sensors: int, poll: float, seconds: float, counting: Counting
) -> list[float]:
    triggers = [
        HbSmsDeliveryTrigger(
            DeliveryCondition(campaign_key=f"trig-{c}", store_url=url, collect=False).serialize(),
            poll_interval=poll,
        )
        for c in range(sensors)
    ]
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            due = time.perf_counter() + TICK
            await asyncio.sleep(TICK)
            lags.append(max(0.0, time.perf_counter() - due))

    async def drive(trigger: HbSmsDeliveryTrigger) -> None:
        async for event_ in trigger.run():
            raise RuntimeError(f"a trigger fired: {event_.payload}")

    tasks = [asyncio.create_task(drive(t)) for t in triggers]
    tick = asyncio.create_task(ticker())
    await asyncio.sleep(seconds)
    stop.set()
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await tick
    return lags


def measure(url: str, args: argparse.Namespace, recompute: bool) -> dict[str, float]:
    engine = open_store(url=url).engine
    counting = Counting()

    def on_statement(*_: Any) -> None:
        with counting.lock:
            counting.statements += 1

    original = DeliveryCondition.check

    def check(self: DeliveryCondition) -> Any:
        started = time.perf_counter()
        try:
            if recompute:  # the baseline: the summary recomputed from every message and report
                self.store.reports.summary(self.campaign_key)
                return None
            return original(self)
        finally:
            with counting.lock:
                counting.checks += 1
                counting.check_seconds.append(time.perf_counter() - started)

    event.listen(engine, "before_cursor_execute", on_statement)
    DeliveryCondition.check = check  # type: ignore[method-assign]
    try:
        lags = asyncio.run(run(url, args.sensors, args.poll, args.seconds, counting))
    finally:
        DeliveryCondition.check = original  # type: ignore[method-assign]
        event.remove(engine, "before_cursor_execute", on_statement)
    lags.sort()
    return {
        "lag_p50_ms": statistics.median(lags) * 1000,
        "lag_p99_ms": lags[int(len(lags) * 0.99) - 1] * 1000,
        "lag_max_ms": lags[-1] * 1000,
        "pokes": counting.checks,
        "pokes_per_s": counting.checks / args.seconds,
        "queries_per_poke": counting.statements / max(counting.checks, 1),
        "poke_p99_ms": sorted(counting.check_seconds)[int(len(counting.check_seconds) * 0.99) - 1]
        * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensors", type=int, default=500)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--url", help="the store's database (default: a new SQLite file)")
    args = parser.parse_args()
    logging.getLogger("airflow_provider_hbsms").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/store.db"
        started = time.perf_counter()
        build(url, args.sensors, args.messages)
        print(
            f"store: {args.sensors} campaigns x {args.messages} messages "
            f"({args.sensors * args.messages:,}) built in {time.perf_counter() - started:.0f} s"
        )
        results = {
            "counters": measure(url, args, recompute=False),
            "recomputed (baseline)": measure(url, args, recompute=True),
        }
    print(
        f"{args.sensors} delivery triggers in one event loop, a check every {args.poll:g} s "
        f"each, {args.seconds:g} s per run:"
    )
    for name, r in results.items():
        print(
            f"  {name:<22} loop lag p50 {r['lag_p50_ms']:6.1f} ms  p99 {r['lag_p99_ms']:6.1f} ms  "
            f"max {r['lag_max_ms']:6.1f} ms | {r['pokes_per_s']:6.1f} pokes/s "
            f"(of {args.sensors / args.poll:.0f} due)  {r['queries_per_poke']:.2f} queries/poke  "
            f"poke p99 {r['poke_p99_ms']:7.1f} ms"
        )
    base, new = results["recomputed (baseline)"], results["counters"]
    print(
        f"counters vs baseline: pokes served {new['pokes'] / max(base['pokes'], 1):.1f}x, "
        f"poke p99 {base['poke_p99_ms'] / max(new['poke_p99_ms'], 1e-9):.1f}x faster"
    )


if __name__ == "__main__":
    main()
