#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: unit, property, integration and DAG-run tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/python -m ruff check .
.venv/bin/python -m mypy airflow_provider_hbsms

# Browser tests (tests/integration/airflow/test_api_server.py): headless Chromium, its driver,
# and a CJK font for the screenshots, from Debian's packages when missing (as root; elsewhere
# those tests skip).
if ! command -v chromium >/dev/null 2>&1 || [ ! -x /usr/bin/chromedriver ] \
    || ! dpkg -s fonts-wqy-zenhei >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing chromium, chromium-driver and fonts-wqy-zenhei for the browser tests"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver fonts-wqy-zenhei >/dev/null
  fi
fi
# Docs site: MkDocs with warnings as errors (snippets come from files the tests run).
NO_MKDOCS_2_WARNING=1 .venv/bin/python -m mkdocs build --strict --quiet

.venv/bin/python -m pytest "$@"

# ---------------------------------------------------------------------------------------------
# Supported range (CI): the provider and DAG-run tests on Airflow 3.2 / Python 3.12 and
# Airflow 3.3 / Python 3.13, each from the constraints file shipped for it (scripts/matrix.sh).
# Runs under CI=true or HBSMS_MATRIX=1; HBSMS_MATRIX=0 skips it.
# ---------------------------------------------------------------------------------------------
if [ "${HBSMS_MATRIX:-}" = 1 ] || { [ "${CI:-}" = true ] && [ "${HBSMS_MATRIX:-}" != 0 ]; }; then
  bash scripts/matrix.sh
fi
