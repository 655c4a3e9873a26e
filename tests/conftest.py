"""Shared fixtures; each part of the suite keeps its own in tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.simulator",
    "tests.fixtures.airflow_env",
]
