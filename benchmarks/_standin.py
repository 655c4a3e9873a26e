"""A gateway stand-in that answers at once (or after a fixed latency) without parsing bodies.

Run as a subprocess by the benchmarks: ``python benchmarks/_standin.py [latency_ms]``; prints
its URL. It reads ``total_count`` (personalized) or counts numbers (same-content) and answers
``0#N``, so the measured side is the client alone.
"""

from __future__ import annotations

import asyncio
import re
import sys

from airflow_provider_hbsms.simulator.http import serve_connection

_TOTAL = re.compile(rb"total_count=(\d+)")


async def main(latency: float) -> None:
    async def handle(method, target, headers, body, ip):  # type: ignore[no-untyped-def]
        if latency:
            await asyncio.sleep(latency)
        match = _TOTAL.search(body)
        if match:
            count = int(match.group(1))
        else:
            mobiles = body.split(b"mobile=", 1)[1].split(b"&", 1)[0] if b"mobile=" in body else b""
            count = mobiles.count(b"%2C") + 1 if mobiles else 0
        return 200, "text/plain", f"0#{count}".encode()

    server = await asyncio.start_server(
        lambda r, w: serve_connection(r, w, handle), "127.0.0.1", 0, backlog=512
    )
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]) / 1000 if len(sys.argv) > 1 else 0.0))
