#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: unit, property, integration and DAG-run tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/python -m ruff check .
.venv/bin/python -m mypy airflow_provider_hbsms
exec .venv/bin/python -m pytest "$@"
