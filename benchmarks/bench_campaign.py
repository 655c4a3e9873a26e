"""Campaign sending: throughput, CPU per message, latency ceiling, and memory on large files.

    .venv/bin/python benchmarks/bench_campaign.py [--quick]

1. 100,000 personalized messages of Chinese text to a stand-in that answers at once: the
   personalized send operator's engine (validation pass, ledger, sending) vs a hand-written loop
   of ``HttpHook.run`` per 200-message batch, which is what users write without this provider,
   both in this process with connections from environment variables. Also the client's own
   CPU per message (building GBK bodies, posting, parsing).
1b. The same, each side as an Airflow task under ``airflow dags test`` with its connection in
   Airflow's metadata database (``task_dags/hbsms_bench_in_tasks.py``), where the loop pays a
   connection lookup per batch as it does in production. Each side runs twice; the faster run
   counts.
2. The same against a stand-in with 30 ms latency per request, with 1 and 4 connections, as a
   share of the ceiling (connections x 200 messages / 30 ms); bare ``http.client`` posting a
   prebuilt body shows how close any client gets to that ceiling against this stand-in.
3. Peak RSS sending 1,000,000 rows from Parquet vs 100,000 rows (each in a fresh process).
4. End to end as an Airflow task (``task_dags/hbsms_bench_end_to_end.py`` under ``airflow dags
   test``): 1,000,000 personalized messages from Parquet through the send with 4 connections
   to the 30 ms stand-in and the campaign's first delivery summary (which indexes every sent
   message), against the latency ceiling; and the task's peak RSS against the same task over
   100,000 messages (``--end-to-end`` runs this section alone).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CREDENTIALS, chinese_items, measure, send_with_http_hook
from _setup import (
    HERE,
    StandIn,
    hbsms_connection,
    http_connection,
    run_airflow,
    task_environment,
    use_stand_in,
    write_parquet,
)


def _frame(count: int):  # type: ignore[no-untyped-def]
    import pandas as pd

    items = chinese_items(count)
    return pd.DataFrame({"mobile": [i.mobile for i in items], "text": [i.content for i in items]})


def run_campaign(  # type: ignore[no-untyped-def]
    source, workdir: Path, tag: str, connections: int = 1
) -> dict:  # type: ignore[type-arg]
    """The personalized send operator's work, as ``execute`` does it."""
    from types import SimpleNamespace

    from airflow_provider_hbsms.operators.send import HbSmsPersonalizedSendOperator

    op = HbSmsPersonalizedSendOperator(
        task_id=f"bench_{tag}",
        input=source,
        content_column="text",
        hbsms_conn_id="hbsms_bench",
        store_url=f"sqlite:///{workdir / 'store.db'}",
        check_balance=False,
        honour_opt_outs=False,
        connections=connections,
    )
    ti = SimpleNamespace(dag_id="bench", task_id=f"bench_{tag}", run_id=tag, map_index=-1)
    return op.execute({"ti": ti})  # type: ignore[arg-type]


def index(workdir: Path) -> None:
    """What the first reader of the campaign's statuses does: index the journaled messages."""
    from airflow_provider_hbsms.store import open_store
    from airflow_provider_hbsms.store.sent import expand_pending

    expand_pending(open_store(url=f"sqlite:///{workdir / 'store.db'}").engine)


def http_hook_loop(count: int) -> None:
    """The baseline: HttpHook.run per batch, GBK form built by hand (what users write today)."""
    send_with_http_hook(chinese_items(count))


def client_only(items: list, url: str, workdir: Path) -> None:  # type: ignore[type-arg]
    """The client's own work per batch: build the GBK body, post, parse (items made before)."""
    from airflow_provider_hbsms.client import HbSmsClient

    client = HbSmsClient(url, CREDENTIALS, pacing_dir=workdir)
    for start in range(0, len(items), 200):
        client.send_personalized(items[start : start + 200])


def throughput(count: int) -> None:
    print(f"\n1. {count:,} personalized messages, stand-in answering at once")
    with StandIn() as standin, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        use_stand_in(standin.url, workdir)
        frame = _frame(count)
        http_hook_loop(2000)  # warm up both paths
        run_campaign(_frame(2000), workdir, "warmup")
        baseline = measure("HttpHook.run loop (baseline)", count, lambda: http_hook_loop(count))
        ours = measure(
            "HbSmsPersonalizedSendOperator", count, lambda: run_campaign(frame, workdir, "t1")
        )
        items = chinese_items(count)
        client = measure(
            "HbSmsClient alone", count, lambda: client_only(items, standin.url, workdir)
        )
        indexing = measure("  then indexing them (first reader)", count, lambda: index(workdir))
    for m in (baseline, ours, client):
        print("  " + m.line())
    print(
        f"  (the sent messages are indexed for matching reports and replies when first read: "
        f"{indexing.wall:.2f} s, {indexing.cpu_us_per_message:.2f} µs CPU/msg, paid by the "
        "first sensor poke, loader or reply)"
    )
    ratio = ours.rate / baseline.rate
    print(
        f"  throughput ratio operator / HttpHook loop: {ratio:.1f}x (the loop's best case, "
        "outside Airflow with its connection in an environment variable; the 5x target is "
        "for tasks as users run them, 1b)"
    )
    print(
        f"  client CPU per message: {client.cpu_us_per_message:.2f} µs (target <= 5); "
        f"whole operator incl. validation and ledger: {ours.cpu_us_per_message:.2f} µs"
    )


def raw_floor(url: str, connections: int, requests_each: int) -> tuple[float, float]:
    """Messages/s of bare ``http.client`` posting one prebuilt body over ``connections``
    threads, what any client can reach against this stand-in, and its median round trip (ms)."""
    import http.client
    import statistics
    import threading
    import time

    from airflow_provider_hbsms.protocol import build_personalized_body

    body = build_personalized_body(CREDENTIALS, chinese_items(200))
    host, port = url.removeprefix("http://").split(":")

    round_trips: list[float] = []

    def post() -> None:
        connection = http.client.HTTPConnection(host, int(port))
        for _ in range(requests_each):
            sent = time.perf_counter()
            connection.request("POST", "/hSmsSend.do", body=body)
            connection.getresponse().read()
            round_trips.append(time.perf_counter() - sent)
        connection.close()

    threads = [threading.Thread(target=post) for _ in range(connections)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rate = connections * requests_each * 200 / (time.perf_counter() - start)
    return rate, statistics.median(round_trips) * 1000


def in_tasks(count: int) -> None:
    """Section 1 again, each side as an Airflow task under ``airflow dags test``, with its
    connection kept in Airflow's metadata database as users keep it: a ``HttpHook.run`` loop
    then looks its connection up for every batch, the operator once."""
    print(
        f"\n1b. the same {count:,} messages inside Airflow tasks (`airflow dags test`), "
        "connections in Airflow's metadata database"
    )
    with StandIn() as standin, tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        hbsms = hbsms_connection(standin.url)
        connections = {
            # The import file takes extras as text.
            "hbsms_bench": {**hbsms, "extra": json.dumps(hbsms["extra"])},
            "http_bench": http_connection(standin.url),
        }
        (home / "connections.json").write_text(json.dumps(connections))
        env = task_environment(
            home,
            HERE / "task_dags",
            HBSMS_BENCH_MESSAGES=str(count),
            HBSMS_BENCH_OUT=str(home),
        )
        run_airflow(
            env,
            ["db", "migrate"],
            ["connections", "import", str(home / "connections.json")],
            ["dags", "test", "hbsms_bench_in_tasks"],
        )
        timings = {
            name: json.loads((home / f"{name}.json").read_text())
            for name in ("http_hook_loop", "operator")
        }
    from _common import Measurement

    baseline, ours = (
        Measurement(label, count, timings[name]["wall"], timings[name]["cpu"])
        for name, label in (
            ("http_hook_loop", "HttpHook.run loop in a task"),
            ("operator", "HbSmsPersonalizedSendOperator task"),
        )
    )
    for m in (baseline, ours):
        print("  " + m.line())
    ratio = ours.rate / baseline.rate
    print(f"  throughput ratio operator / HttpHook loop: {ratio:.1f}x (target >= 5)")


def latency(count: int) -> None:
    print(f"\n2. {count:,} messages, stand-in with 30 ms latency per request")
    with StandIn(latency_ms=30) as standin, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        use_stand_in(standin.url, workdir)
        run_campaign(_frame(2000), workdir, "warmup")
        for connections in (1, 4):
            frame = _frame(count)
            m = measure(
                f"{connections} connection(s)",
                count,
                lambda f=frame, c=connections: run_campaign(f, workdir, f"lat{c}", c),
            )
            ceiling = connections * 200 / 0.030
            share = m.rate / ceiling
            floor, round_trip = raw_floor(standin.url, connections, 50)
            print(f"  {m.line()}  = {share:.3f}x the ceiling {ceiling:,.0f} msg/s (target >= 0.95)")
            print(
                f"  {'':<34} bare http.client, prebuilt body: {floor / ceiling:.3f}x the ceiling,"
                f" median round trip {round_trip:.2f} ms"
            )


def _rss_child(rows: int) -> int:
    """Peak RSS (KiB) of a fresh process sending ``rows`` rows from a Parquet file."""
    code = f"""
import resource, sys, tempfile
from pathlib import Path
sys.path.insert(0, {str(HERE)!r})
from bench_campaign import run_campaign
from _setup import StandIn, use_stand_in, write_parquet
with StandIn() as standin, tempfile.TemporaryDirectory() as tmp:
    workdir = Path(tmp)
    use_stand_in(standin.url, workdir)
    path = workdir / "rows.parquet"
    write_parquet(path, {rows})
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = run_campaign(str(path), workdir, "rss")
    assert result["accepted"] == {rows}, result
print("RSS", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(next(x for x in out.stdout.splitlines() if x.startswith("RSS")).split()[1])


def memory(small: int, large: int) -> None:
    print(f"\n3. peak RSS sending {large:,} vs {small:,} rows from Parquet (fresh processes)")
    a, b = _rss_child(small), _rss_child(large)
    print(f"  {small:>9,} rows: {a / 1024:7.1f} MiB")
    print(f"  {large:>9,} rows: {b / 1024:7.1f} MiB")
    print(f"  ratio: {b / a:.2f}x (target <= 1.3)")


def _end_to_end_task(rows: int, connections: int) -> dict:  # type: ignore[type-arg]
    """One ``airflow dags test`` of the end-to-end task over ``rows`` rows, in a fresh home."""
    with StandIn(latency_ms=30) as standin, tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        write_parquet(home / "rows.parquet", rows)
        env = task_environment(
            home,
            HERE / "task_dags" / "hbsms_bench_end_to_end.py",
            AIRFLOW_CONN_HBSMS_BENCH=json.dumps(hbsms_connection(standin.url)),
            HBSMS_BENCH_INPUT=str(home / "rows.parquet"),
            HBSMS_BENCH_CONNECTIONS=str(connections),
            HBSMS_BENCH_OUT=str(home),
        )
        run_airflow(env, ["db", "migrate"], ["dags", "test", "hbsms_bench_end_to_end"])
        return json.loads((home / "end_to_end.json").read_text())  # type: ignore[no-any-return]


def end_to_end(small: int, large: int, connections: int = 4) -> None:
    print(
        f"\n4. end to end as an Airflow task: {large:,} personalized messages from Parquet, "
        f"{connections} connections at 30 ms, send + first delivery summary (indexing included)"
    )
    ceiling = large / (connections * 200 / 0.030)
    runs = {rows: _end_to_end_task(rows, connections) for rows in (small, large)}
    big, base = runs[large], runs[small]
    print(
        f"  {large:>9,} messages: {big['wall']:6.1f} s (send {big['send']:.1f} s, summary "
        f"{big['summary']:.1f} s) = {big['wall'] / ceiling:.3f}x the latency ceiling "
        f"{ceiling:.1f} s (target <= 1.15)"
    )
    big_rss, base_rss = big["peak_rss_kib"] / 1024, base["peak_rss_kib"] / 1024
    print(
        f"  peak RSS of the task: {big_rss:.1f} MiB vs {base_rss:.1f} MiB for {small:,} "
        f"messages ({base['wall']:.1f} s): {big_rss / base_rss:.2f}x (target <= 1.2)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a smoke run")
    parser.add_argument("--end-to-end", action="store_true", help="section 4 alone")
    args = parser.parse_args()
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="hbsms-bench-"))
    import logging

    logging.disable(logging.INFO)
    if args.end_to_end:
        end_to_end(20_000, 200_000) if args.quick else end_to_end(100_000, 1_000_000)
    elif args.quick:
        print(
            "--quick: smoke-run sizes, where fixed costs weigh more; the targets are for full sizes"
        )
        throughput(10_000)
        in_tasks(10_000)
        latency(4_000)
        memory(20_000, 200_000)
        end_to_end(20_000, 200_000)
    else:
        throughput(100_000)
        in_tasks(100_000)
        latency(100_000)
        memory(100_000, 1_000_000)
        end_to_end(100_000, 1_000_000)
    _ = resource  # peak RSS is read in the children


if __name__ == "__main__":
    main()
