#!/usr/bin/env bash
# Set up (when needed) and run the whole test suite: the README's test command.
#   - a virtual environment in .venv with paretoctl and its test extras
#   - a throwaway PostgreSQL server on 127.0.0.1:54329 for the PostgreSQL store tests
#   - pytest over tests/
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import orchestrator, pytest, psycopg" 2>/dev/null; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test,postgres]'
fi

PARETOCTL_TEST_PG_URL="$(bash scripts/start-postgres.sh | tail -n 1)"
export PARETOCTL_TEST_PG_URL

exec .venv/bin/python -m pytest -q "$@"
