"""Shared fixtures; each harness lives once in tests/fixtures/.

``tests/unit/`` mirrors the package with fast tests (mocked hooks, no server);
``tests/integration/`` holds the tests that need the simulator on loopback, PostgreSQL,
real Airflow processes, a browser or Celery.
"""

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.simulator",
    "tests.fixtures.airflow_env",
    "tests.fixtures.dag_runs",
    "tests.fixtures.push_receiver",
]
