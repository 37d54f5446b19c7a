#!/usr/bin/env bash
# Set up (when needed) and run the whole test suite: the README's test command.
#   - a virtual environment in .venv with paretoctl and its test extras
#   - a throwaway PostgreSQL server on 127.0.0.1:54329 for the PostgreSQL store tests,
#     stopped again when pytest ends (PARETOCTL_KEEP_PG=1 keeps it running)
#   - pytest over tests/
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# (re)install when the environment lacks the package or pyproject.toml changed since the
# last install (a new top-level package is only importable after the editable reinstall)
root="$(pwd)"
stamp=.venv/.paretoctl-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] \
   || ! (cd / && "$root/.venv/bin/python" -c "import orchestrator, trainers, store, analysis, contract, pytest, psycopg") 2>/dev/null; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test,postgres]'
  touch "$stamp"
fi

PARETOCTL_TEST_PG_URL="$(bash scripts/start-postgres.sh | tail -n 1)"
export PARETOCTL_TEST_PG_URL
if [ "${PARETOCTL_KEEP_PG:-0}" != 1 ]; then
  trap 'bash scripts/stop-postgres.sh' EXIT
fi

.venv/bin/python -m pytest -q "$@"
