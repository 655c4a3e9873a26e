"""Pacers on their own: a file pacer spaces calls from the end of the last one, and database
pacing needs PostgreSQL."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine

from airflow_provider_hbsms.client import HbSmsClient
from airflow_provider_hbsms.pacing import DatabasePacer, FilePacer
from airflow_provider_hbsms.protocol import Credentials, Endpoint
from tests.fixtures.simulator import SIM_CORP_ID, SIM_PASSWORD

CREDS = Credentials(SIM_CORP_ID, SIM_PASSWORD, "svc")


def test_file_pacer_spaces_from_the_end_of_a_call(tmp_path) -> None:
    pacer = FilePacer("k", interval=0.3, directory=tmp_path)
    with pacer.hold():
        time.sleep(0.2)
    ended = time.monotonic()
    with pacer.hold():
        started = time.monotonic()
    assert started - ended >= 0.29


def test_database_pacing_refuses_sqlite(tmp_path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(ValueError, match="PostgreSQL"):
        DatabasePacer("k", engine)
    client = HbSmsClient("http://127.0.0.1:9", CREDS, pacing_dir=tmp_path, pacing_engine=engine)
    assert isinstance(client.pacers[Endpoint.BALANCE], FilePacer)
