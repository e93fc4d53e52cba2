#!/usr/bin/env bash
# Start Baoxue with a demo township on SQLite, on a fresh machine too.
#   ./scripts/demo.sh                 http://127.0.0.1:8000, data in ./data/demo
#   ./scripts/demo.sh --port 9000     extra arguments go to `baoxue serve`
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.baoxue-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e .
  touch "$stamp"
fi
exec .venv/bin/baoxue serve --demo --data-dir "${BAOXUE_DATA_DIR:-data/demo}" "$@"
