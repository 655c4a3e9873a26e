"""Warehouse names given by users are validated as identifiers and quoted by dialect."""

from __future__ import annotations

import pytest

from airflow_provider_hbsms.operators.load import check_identifier, sql_dialect
from tests.fixtures.inputs import INJECTIONS


@pytest.mark.parametrize("name", INJECTIONS)
def test_identifiers_are_refused_unless_plain(name: str) -> None:
    with pytest.raises(ValueError, match="not a plain SQL identifier"):
        check_identifier(name, "table_prefix")


def test_names_are_quoted_by_the_dialect() -> None:
    assert sql_dialect("postgres").identifier_preparer.quote("Select") == '"Select"'
    assert sql_dialect("mysql").identifier_preparer.quote("Select") == "`Select`"
    assert sql_dialect("sqlite").identifier_preparer.quote("hbsms_reports") == "hbsms_reports"
