#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: unit, property, integration and DAG-run tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/python -m ruff check .
.venv/bin/python -m mypy airflow_provider_hbsms

# Browser tests (tests/test_api_server.py): headless Chromium, its driver, and a CJK font for the
# screenshots, from Debian's packages when missing (as root; elsewhere those tests skip).
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

exec .venv/bin/python -m pytest "$@"
