"""The push receiver on loopback: pushes of 100-report bodies per second, and latency, on
SQLite and PostgreSQL, with each body kept raw (as it runs) against the same receiver without
(the intake before raw-first storing), measured in the same run.

    .venv/bin/python benchmarks/bench_receiver.py [--pushes 3000] [--clients 8] [--rounds 2]
        [--postgres-url postgresql+psycopg2://postgres@127.0.0.1:5432/test] [--no-postgres]
        [--before GIT_REF]

The receiver (``benchmarks/_receiver_serve.py``: the standalone app on uvicorn, as
``hbsms-receiver`` runs it) serves in a subprocess; client threads post distinct 100-report
bodies over keep-alive connections, as the gateway would when pushing a backlog. Every push must
be answered ``0`` (stored and committed). Each variant runs ``--rounds`` times, alternating, on a
fresh store each time; the best round counts (the machine is shared). Printed per store and
variant: pushes/s, reports/s, latency p50/p99 and the receiver's CPU time per push (read from
/proc, Linux only); then raw-first against without, and against 500 pushes/s.

``--before GIT_REF`` also runs the receiver of another build (a temporary ``git worktree`` of
that commit, imported ahead of this checkout), alternating with the others, and judges this
build against it (the floor of 0.90x): what a change costs, measured in one run on the same
machine. Without it the floor is against this receiver without raw bodies.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_provider_hbsms.protocol import Report, build_reports_xml

if TYPE_CHECKING:
    from collections.abc import Iterator

TOKEN = "bench-token"
TARGET = 500
POSTGRES_URL = os.environ.get(
    "HBSMS_BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(port: int) -> None:
    for _ in range(300):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/hbsms/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("receiver did not start")


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live descendants (uvicorn workers), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            kids = [int(k) for k in children.read().split()]
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_cpu_seconds(k) for k in kids)


@dataclass
class Run:
    """One measured run."""

    rate: float
    p50: float
    p99: float
    cpu_ms: float


def _serve(port: int, url: str, variant: str, tree: str | None) -> subprocess.Popen[bytes]:
    script = Path(__file__).with_name("_receiver_serve.py")
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [tree, env.get("PYTHONPATH")]))
    command = [sys.executable, str(script), str(port), TOKEN, url, variant]
    return subprocess.Popen(command, env=env)


@contextmanager
def _worktree(ref: str | None) -> Iterator[str | None]:
    """A temporary checkout of ``ref`` (None: nothing to check out)."""
    if ref is None:
        yield None
        return
    repo = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="hbsms-before-") as tmp:
        tree = str(Path(tmp) / "tree")
        git = ["git", "-C", str(repo)]
        subprocess.run([*git, "worktree", "add", "--detach", "-q", tree, ref], check=True)
        try:
            yield tree
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", tree], check=False)


def _run(bodies: list[bytes], clients: int, url: str, variant: str, tree: str | None) -> Run:
    port = _free_port()
    receiver = _serve(port, url, variant, tree)
    try:
        _wait_up(port)
        latencies: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()
        next_body = iter(range(len(bodies)))

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            own: list[float] = []
            while True:
                with lock:
                    index = next(next_body, None)
                if index is None:
                    break
                started = time.perf_counter()
                conn.request("POST", f"/hbsms/{TOKEN}/reports", bodies[index])
                reply = conn.getresponse().read()
                own.append(time.perf_counter() - started)
                if reply != b"0":
                    failures.append(reply.decode())
            with lock:
                latencies.extend(own)

        threads = [threading.Thread(target=client) for _ in range(clients)]
        cpu_before = _cpu_seconds(receiver.pid)
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds(receiver.pid) - cpu_before
    finally:
        receiver.terminate()
        receiver.wait()
    assert not failures, failures[:3]
    cut = statistics.quantiles(latencies, n=100)
    return Run(len(bodies) / elapsed, cut[49] * 1000, cut[98] * 1000, cpu / len(bodies) * 1000)


@contextmanager
def _fresh_store(kind: str, tmp: str, postgres_url: str, n: int) -> Iterator[str]:
    """A URL of an empty store: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if kind == "SQLite":
        yield f"sqlite:///{tmp}/store-{n}.db"
        return
    from sqlalchemy import create_engine, text

    schema = f"hbsms_bench_{os.getpid()}_{n}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in postgres_url else "?"
        yield f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _line(name: str, run: Run) -> str:
    return (
        f"  {name:<24} {run.rate:>6,.0f} pushes/s ({run.rate * 100:>7,.0f} reports/s)  "
        f"p50 {run.p50:5.1f} ms  p99 {run.p99:6.1f} ms  CPU {run.cpu_ms:.2f} ms/push"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a short smoke run (300 pushes)")
    parser.add_argument("--before", metavar="GIT_REF", help="also measure this build's receiver")
    args = parser.parse_args()
    if args.quick:
        args.pushes, args.rounds = 300, 1
    bodies = [
        build_reports_xml(
            [Report(f"138{(p * 100 + i) % 10**8:08d}", f"r{p}-{i}", 0, "0") for i in range(100)]
        )
        for p in range(args.pushes)
    ]
    stores = ["SQLite"] if args.no_postgres else ["SQLite", "PostgreSQL"]
    print(
        f"{args.pushes:,} pushes of 100 reports, {args.clients} clients, 1 receiver worker, "
        f"best of {args.rounds} round(s); {os.cpu_count()} CPUs"
    )
    ok = True
    variants = ("no-raw", "raw", "before") if args.before else ("no-raw", "raw")
    with tempfile.TemporaryDirectory() as tmp, _worktree(args.before) as tree:
        n = 0
        for kind in stores:
            best: dict[str, Run] = {}
            for _ in range(args.rounds):
                for variant in variants:
                    n += 1
                    with _fresh_store(kind, tmp, args.postgres_url, n) as url:
                        own = tree if variant == "before" else None
                        run = _run(bodies, args.clients, url, variant, own)
                    if variant not in best or run.rate > best[variant].rate:
                        best[variant] = run
            after, without = best["raw"], best["no-raw"]
            print(f"{kind} store")
            print(_line("this build (raw-first)", after))
            print(_line("without raw bodies", without))
            if args.before:
                print(_line(f"build {args.before}", best["before"]))
            cost = after.rate / without.rate
            print(f"  raw-first/without: {cost:.2f}x (what keeping the bodies costs)")
            # The floor is against the build before when one is given, else against the same
            # receiver without raw bodies (the intake before raw-first storing, approximately).
            baseline = best["before"] if args.before else without
            name = f"build {args.before}" if args.before else "without raw bodies"
            ratio = after.rate / baseline.rate
            print(f"  this build/{name}: {ratio:.2f}x (floor 0.90x)")
            print(f"  this build = {after.rate / TARGET:.2f}x {TARGET} pushes/s")
            ok = ok and ratio >= 0.9 and after.rate >= TARGET
    print("OK" if ok else "BELOW TARGET")


if __name__ == "__main__":
    main()
