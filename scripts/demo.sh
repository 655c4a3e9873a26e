#!/usr/bin/env bash
# Set up (if needed) and run the main job: an example SMS campaign end to end against the local
# gateway simulator, as a real Airflow DAG run, with a readable summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python scripts/run_demo.py "$@"
