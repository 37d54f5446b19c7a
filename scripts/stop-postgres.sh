#!/usr/bin/env bash
# Stop the throwaway PostgreSQL server that scripts/start-postgres.sh started (if it runs).
# Environment: PARETOCTL_PG_DIR (default /tmp/paretoctl-pg), as for start-postgres.sh.
set -euo pipefail

PG_DIR="${PARETOCTL_PG_DIR:-/tmp/paretoctl-pg}"
DATA_DIR="$PG_DIR/data"
bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
[ -n "$bindir" ] && [ -f "$DATA_DIR/postmaster.pid" ] || exit 0
if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$bindir/pg_ctl" -D "$DATA_DIR" -m fast -w stop >&2 || true
else
    "$bindir/pg_ctl" -D "$DATA_DIR" -m fast -w stop >&2 || true
fi
