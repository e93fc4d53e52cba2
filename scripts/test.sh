#!/usr/bin/env bash
# The whole test suite, on a fresh machine too: installs what it needs, then runs lint, types,
# the tests on SQLite, the tests on PostgreSQL, and the browser tests in Debian's Chromium.
#
#   ./scripts/test.sh            everything (what CI runs)
#   ./scripts/test.sh -k search  extra arguments go to pytest (SQLite run only)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# --- Python environment ------------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  step "creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.baoxue-dev-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  step "installing Baoxue with its test dependencies"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  touch "$stamp"
fi

# --- System packages for browser tests: Chromium and a Chinese font (never playwright install) -
if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then
  step "installing chromium and fonts-noto-cjk with apt"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi

# --- PostgreSQL ----------------------------------------------------------------------------------
PG_URL="${BAOXUE_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
pg_up() { .venv/bin/python -c "import psycopg,sys; psycopg.connect(sys.argv[1], connect_timeout=3).close()" "$PG_URL" 2>/dev/null; }
if ! pg_up; then
  step "starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "PostgreSQL is not reachable at $PG_URL"; exit 1; }
fi

# --- Lint and types ------------------------------------------------------------------------------
step "ruff"
.venv/bin/ruff check src bench
.venv/bin/ruff format --check src bench
step "mypy"
.venv/bin/mypy src
step "layers (import-linter: each app imports only the layers below it, pyproject.toml)"
.venv/bin/lint-imports
step "migrations are up to date"
BAOXUE_TESTING=1 BAOXUE_DATA_DIR="$(mktemp -d)" .venv/bin/baoxue manage makemigrations --check --dry-run >/dev/null

# --- Tests ---------------------------------------------------------------------------------------
step "tests on SQLite"
.venv/bin/python -m pytest -n 2 -m "not browser" "$@"
step "tests on PostgreSQL"
DATABASE_URL="$PG_URL" .venv/bin/python -m pytest -n 2 -m "not browser" -q
step "browser tests (Chromium)"
.venv/bin/python -m pytest -m browser -p no:xdist -q
