#!/usr/bin/env bash
# The supported range's other cells: the provider and DAG-run tests on the lowest and highest
# supported Airflow and the other supported Pythons, each in a venv of its own under
# .venv-matrix/ (git-ignored), installed from the constraints file the project ships for it
# (constraints/airflow-<airflow>-py<python>.txt). The full suite runs on .venv (scripts/test.sh).
#
#   bash scripts/matrix.sh                      # every cell
#   HBSMS_MATRIX_CELLS="3.2:3.12" bash scripts/matrix.sh
#
# A cell's venv is (re)built when its constraints file or pyproject.toml changed; the builds
# run side by side (mostly downloads), the tests one cell after another.
set -euo pipefail
cd "$(dirname "$0")/.."

CELLS=${HBSMS_MATRIX_CELLS:-"3.2:3.12 3.3:3.13"}
TESTS=(tests/integration/airflow/test_provider.py tests/integration/airflow/test_example_dags.py
  tests/integration/sensors/test_sensors_and_triggers.py)
# What the tests need besides the provider (matplotlib: the example campaign's funnel PNG).
PACKAGES=(apache-airflow apache-airflow-providers-common-sql apache-airflow-providers-postgres
  apache-airflow-providers-sqlite apache-airflow-providers-http psycopg2-binary pytest
  pytest-timeout hypothesis matplotlib)

python_for() {
  # pythonX.Y from PATH when it runs (a pyenv shim may not), else pyenv's own build of it.
  local version=$1 candidate
  if "python$version" -c "" >/dev/null 2>&1; then
    command -v "python$version"
    return
  fi
  for candidate in "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/"$version".*/bin/python"$version"; do
    if [ -x "$candidate" ]; then
      echo "$candidate"
      return
    fi
  done
  echo "python$version is needed for the matrix and was not found" >&2
  return 1
}

build() {
  local airflow=$1 python=$2
  local venv=.venv-matrix/af$airflow-py$python
  local constraints=constraints/airflow-$airflow-py$python.txt
  local want
  want=$({ cat "$constraints" pyproject.toml; echo "${PACKAGES[*]}"; } | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$venv/.hbsms-installed" 2>/dev/null)" = "$want" ]; then
    return
  fi
  echo "matrix: building $venv from $constraints"
  rm -rf "$venv"
  "$(python_for "$python")" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  "$venv/bin/python" -m pip install --quiet -c "$constraints" -e . "${PACKAGES[@]}" 2>&1 \
    | grep -v '^WARNING: Location' || true
  "$venv/bin/python" -c "import airflow_provider_hbsms, airflow.sdk"
  echo "$want" > "$venv/.hbsms-installed"
}

mkdir -p .venv-matrix
pids=()
for cell in $CELLS; do
  build "${cell%%:*}" "${cell##*:}" > ".venv-matrix/build-${cell/:/-}.log" 2>&1 &
  pids+=($!)
done
status=0
for index in "${!pids[@]}"; do
  cell=$(echo "$CELLS" | tr ' ' '\n' | grep -v '^$' | sed -n "$((index + 1))p")
  if ! wait "${pids[$index]}"; then
    echo "matrix: building the Airflow ${cell%%:*} / Python ${cell##*:} venv failed:" >&2
    cat ".venv-matrix/build-${cell/:/-}.log" >&2
    status=1
  fi
  rm -f ".venv-matrix/build-${cell/:/-}.log"
done
[ "$status" = 0 ] || exit "$status"

for cell in $CELLS; do
  airflow=${cell%%:*}
  python=${cell##*:}
  venv=.venv-matrix/af$airflow-py$python
  echo "matrix: Airflow $("$venv/bin/python" -c 'import airflow; print(airflow.__version__)') on Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())')"
  "$venv/bin/python" -m pytest -q -p no:cacheprovider "${TESTS[@]}"
done
