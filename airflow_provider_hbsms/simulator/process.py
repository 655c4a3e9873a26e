"""The simulator in a child process, driven through its admin API.

Benchmarks use it so that the simulator's work never shares a GIL with the client measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from typing import Any


class SimulatorProcess:
    """``hbsms-simulator`` in a subprocess on a free loopback port.

    :param args: extra command-line arguments (see ``hbsms-simulator --help``).
    :param accounts: the accounts (``corp_id``, ``corp_pwd``, ``services``, ``balance``,
        ``channel_number``), handed over in the child's environment, never on its command
        line; default: the simulator's one test account.
    """

    def __init__(self, *args: str, accounts: list[dict[str, Any]] | None = None) -> None:
        self.args = list(args)
        self.accounts = accounts
        self.process: subprocess.Popen[str] | None = None
        self.base_url = ""

    def start(self) -> SimulatorProcess:
        from airflow_provider_hbsms.simulator.cli import ACCOUNTS_ENV

        env = dict(os.environ)
        env.pop(ACCOUNTS_ENV, None)
        if self.accounts is not None:
            env[ACCOUNTS_ENV] = json.dumps(self.accounts)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airflow_provider_hbsms.simulator", "--port", "0", *self.args],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "listening on " not in line:
            self.stop()
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.base_url = line.rsplit(" ", 1)[1].strip()
        return self

    def admin(self, name: str, payload: dict[str, Any] | None = None) -> Any:
        """Call the admin API: GET without payload, POST with one."""
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.base_url}/_admin/{name}", data=data, method="GET" if data is None else "POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
