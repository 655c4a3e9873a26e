"""Client send throughput vs a raw ``http.client`` loop posting pre-built bodies.

Both talk to the gateway simulator in a subprocess over loopback keep-alive. The raw loop is
the floor of what any Python client can do (no body building, no parsing); the ratio says how
close HbSmsClient comes to it while building GBK bodies, validating and parsing replies.

    .venv/bin/python benchmarks/bench_client_send.py [--messages 100000] [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CREDENTIALS, SIMULATOR_ACCOUNTS, SIMULATOR_ARGS, chinese_items, measure

from airflow_provider_hbsms.client import HbSmsClient
from airflow_provider_hbsms.protocol import build_personalized_body
from airflow_provider_hbsms.protocol.forms import CONTENT_TYPE
from airflow_provider_hbsms.simulator import SimulatorProcess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10,000 messages")
    args = parser.parse_args()
    total = 10_000 if args.quick else args.messages
    batches = [chinese_items(200, start) for start in range(0, total, 200)]
    with SimulatorProcess(
        *SIMULATOR_ARGS, "--report-delay", "3600", accounts=SIMULATOR_ACCOUNTS
    ) as sim:
        url = urlsplit(sim.base_url)
        bodies = [build_personalized_body(CREDENTIALS, batch) for batch in batches]

        def raw_loop() -> None:
            conn = http.client.HTTPConnection(url.hostname or "", url.port)
            headers = {"Content-Type": CONTENT_TYPE}
            for body in bodies:
                conn.request("POST", "/hSmsSend.do", body, headers)
                reply = conn.getresponse().read()
                assert reply.startswith(b"0#"), reply
            conn.close()

        with tempfile.TemporaryDirectory() as pacing:
            client = HbSmsClient(sim.base_url, CREDENTIALS, pacing_dir=Path(pacing))

            def client_loop() -> None:
                for batch in batches:
                    assert client.send_personalized(batch).accepted == len(batch)

            raw_loop()  # warm both paths up
            client_loop()
            raw = measure("raw http.client, pre-built bodies", total, raw_loop)
            ours = measure("HbSmsClient.send_personalized", total, client_loop)
            client.close()
    print(f"{total:,} personalized messages, 200 per request, simulator in a subprocess")
    print(raw.line())
    print(ours.line())
    print(f"throughput ratio client / raw loop: {ours.rate / raw.rate:.2f}")


if __name__ == "__main__":
    main()
