"""The push receiver on loopback: pushes of 100-report bodies per second, and latency.

    .venv/bin/python benchmarks/bench_receiver.py [--pushes 3000] [--clients 8] [--workers 1]

The receiver runs as ``hbsms-receiver`` (uvicorn) in a subprocess with a SQLite store; client
threads post distinct 100-report bodies over keep-alive connections, as the gateway would when
pushing a backlog. Every push must be answered ``0`` (stored and committed). Printed: pushes/s,
reports/s, latency p50/p99, the ratio to 500 pushes/s, and the receiver's CPU time per push
(read from /proc, so on Linux only): with the client on the same machine, one receiver process
is CPU-bound at 1 / (CPU per push).
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

from airflow_provider_hbsms.protocol import Report, build_reports_xml

TOKEN = "bench-token"
TARGET = 500


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--quick", action="store_true", help="a short smoke run (300 pushes)")
    args = parser.parse_args()
    if args.quick:
        args.pushes = 300
    bodies = [
        build_reports_xml(
            [Report(f"138{(p * 100 + i) % 10**8:08d}", f"r{p}-{i}", 0, "0") for i in range(100)]
        )
        for p in range(args.pushes)
    ]
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable, "-m", "airflow_provider_hbsms.receiver.cli", "--port", str(port),
            "--token", TOKEN, "--store-url", f"sqlite:///{tmp}/store.db",
            "--workers", str(args.workers),
        ]  # fmt: skip
        receiver = subprocess.Popen(command)
        try:
            _wait_up(port)
            latencies: list[float] = []
            failures: list[str] = []
            lock = threading.Lock()
            next_body = iter(range(args.pushes))

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

            threads = [threading.Thread(target=client) for _ in range(args.clients)]
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
    rate = args.pushes / elapsed
    cut = statistics.quantiles(latencies, n=100)
    print(
        f"{args.pushes:,} pushes of 100 reports, {args.clients} clients, "
        f"{args.workers} receiver worker(s), SQLite store"
    )
    print(f"{rate:,.0f} pushes/s ({rate * 100:,.0f} reports/s) = {rate / TARGET:.2f}x {TARGET}/s")
    print(f"latency p50 {cut[49] * 1000:.1f} ms, p99 {cut[98] * 1000:.1f} ms")
    if cpu:
        print(
            f"receiver CPU {cpu / args.pushes * 1000:.2f} ms per push "
            f"(one process's ceiling ~{args.pushes / cpu:,.0f} pushes/s); {os.cpu_count()} CPUs"
        )


if __name__ == "__main__":
    main()
