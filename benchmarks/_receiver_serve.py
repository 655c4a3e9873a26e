"""The push receiver for ``bench_receiver.py``: the standalone app on uvicorn with the options
``hbsms-receiver`` uses, with or without keeping each body raw.

    python benchmarks/_receiver_serve.py PORT TOKEN STORE_URL raw|no-raw|before

``before``: the package found first on ``PYTHONPATH`` (another build's checkout) with its own
defaults, which may predate ``keep_raw``.
"""

from __future__ import annotations

import sys

import uvicorn

from airflow_provider_hbsms.receiver.app import ReceiverSettings, standalone_app
from airflow_provider_hbsms.store import open_store


def main() -> None:
    port, token, url, variant = sys.argv[1:5]
    options = {} if variant == "before" else {"keep_raw": variant == "raw"}
    settings = ReceiverSettings(token=token, store_factory=lambda: open_store(url=url), **options)
    uvicorn.run(
        standalone_app(settings),
        host="127.0.0.1",
        port=int(port),
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
