#!/usr/bin/env bash
# Create .venv inside the repo (Python 3.11+) and install the provider with its dev tools.
# Idempotent: reinstalls only when pyproject.toml changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.hbsms-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing airflow-provider-hbsms and its dev dependencies into .venv (about a minute)"
  .venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install --quiet -e ".[dev]" 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -c "import airflow_provider_hbsms, airflow.sdk" # fail loudly if the install did not take
  echo "$want" > "$stamp"
fi
