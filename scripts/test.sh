#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: unit, property, integration and DAG-run tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/python -m ruff check .
.venv/bin/python -m mypy airflow_provider_hbsms
.venv/bin/python -m pytest "$@"

# ---------------------------------------------------------------------------------------------
# Supported range (CI): the provider and DAG-run tests on Airflow 3.2 / Python 3.12 and
# Airflow 3.3 / Python 3.13, each from the constraints file shipped for it (scripts/matrix.sh).
# Runs under CI=true or HBSMS_MATRIX=1; HBSMS_MATRIX=0 skips it.
# ---------------------------------------------------------------------------------------------
if [ "${HBSMS_MATRIX:-}" = 1 ] || { [ "${CI:-}" = true ] && [ "${HBSMS_MATRIX:-}" != 0 ]; }; then
  bash scripts/matrix.sh
fi
