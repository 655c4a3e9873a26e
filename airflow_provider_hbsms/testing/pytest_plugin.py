"""pytest fixtures for testing DAGs that use this provider (entry point ``pytest11``).

Loaded by pytest once the provider is installed; every fixture name starts with ``hbsms_``.

- ``hbsms_simulator``: the gateway simulator on a free 127.0.0.1 port, test account, reports
  due at once; ``hbsms_simulator_factory(**config)`` starts others (``report_delay``,
  ``failure_ratio``, ``seed``, ``accounts=[simulated_account(balance=...)]``, ...).
- ``hbsms_connection``: the ``hbsms_default`` connection (``AIRFLOW_CONN_HBSMS_DEFAULT``)
  pointing at ``hbsms_simulator``.
- ``hbsms_store``: a fresh store on a SQLite file, made the default (``[hbsms] store_url``)
  for the test.
- ``hbsms_gateway``: a ``FakeHbSmsClient`` behind every ``HbSmsHook`` (no sockets).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from airflow.sdk import Connection

    from airflow_provider_hbsms.simulator import GatewaySimulator
    from airflow_provider_hbsms.store import Store
    from airflow_provider_hbsms.testing.fake import FakeHbSmsClient


@pytest.fixture
def hbsms_simulator_factory() -> Iterator[Callable[..., GatewaySimulator]]:
    """Start gateway simulators (``SimulatorConfig`` fields as keywords); all are stopped at
    the end of the test. ``accounts`` defaults to ``[simulated_account()]``."""
    from airflow_provider_hbsms.simulator import GatewaySimulator, SimulatorConfig
    from airflow_provider_hbsms.testing.gateway import simulated_account

    started: list[GatewaySimulator] = []

    def start(**config: Any) -> GatewaySimulator:
        config.setdefault("accounts", [simulated_account()])
        simulator = GatewaySimulator(SimulatorConfig(**config)).start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


@pytest.fixture
def hbsms_simulator(hbsms_simulator_factory: Callable[..., GatewaySimulator]) -> GatewaySimulator:
    """A started simulated gateway with the test account; its ``base_url`` is on 127.0.0.1."""
    return hbsms_simulator_factory()


@pytest.fixture
def hbsms_connection(
    hbsms_simulator: GatewaySimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Connection:
    """``hbsms_default`` pointing at ``hbsms_simulator``, with pacing files in the test's
    temporary folder."""
    from airflow_provider_hbsms.testing.gateway import connection_for

    conn = connection_for(hbsms_simulator)
    monkeypatch.setenv("AIRFLOW_CONN_HBSMS_DEFAULT", conn.as_json())
    monkeypatch.setenv("HBSMS_PACING_DIR", str(tmp_path / "hbsms-pacing"))
    return conn


@pytest.fixture
def hbsms_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Store]:
    """A fresh store on SQLite in the test's temporary folder, the default for the test."""
    from airflow_provider_hbsms.store import Store
    from airflow_provider_hbsms.store.db import make_engine

    url = f"sqlite:///{tmp_path / 'hbsms-store.db'}"
    monkeypatch.setenv("AIRFLOW__HBSMS__STORE_URL", url)
    monkeypatch.delenv("AIRFLOW__HBSMS__STORE_CONN_ID", raising=False)
    engine = make_engine(url)
    yield Store(engine)
    engine.dispose()


@pytest.fixture
def hbsms_gateway() -> Iterator[FakeHbSmsClient]:
    """A ``FakeHbSmsClient`` behind every ``HbSmsHook`` for the test: sends are recorded,
    ``deliver()`` and ``reply()`` queue what the next pulls return."""
    from airflow_provider_hbsms.testing.fake import mock_hbsms_hook

    with mock_hbsms_hook() as fake:
        yield fake
