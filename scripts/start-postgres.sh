#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for paretoctl's tests and print its URL.
#
# Why: the store is tested against PostgreSQL as well as SQLite, and CI (or a
# developer) needs a server without touching any system cluster. The server
# lives in its own directory, listens on 127.0.0.1 only, and this script is
# idempotent: running it again reuses the cluster, role and database.
#
#   export PARETOCTL_TEST_PG_URL="$(scripts/start-postgres.sh)"
#   stop:  bash scripts/stop-postgres.sh
#
# Environment: PARETOCTL_PG_DIR (default /tmp/paretoctl-pg), PARETOCTL_PG_PORT (54329).
# Logs go to stderr and $PARETOCTL_PG_DIR/server.log; stdout is only the URL.
set -euo pipefail

PG_DIR="${PARETOCTL_PG_DIR:-/tmp/paretoctl-pg}"
PG_PORT="${PARETOCTL_PG_PORT:-54329}"
DATA_DIR="$PG_DIR/data"
DB_NAME=paretoctl
DB_USER=paretoctl
DB_PASSWORD=paretoctl

log() { echo "start-postgres: $*" >&2; }

# Run a command as the postgres OS user (initdb/postgres refuse to run as root).
as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

find_bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1
}

ensure_installed() {
    if [ -n "$(find_bindir)" ] && [ -x "$(find_bindir)/initdb" ]; then
        return
    fi
    if [ "$(id -u)" != 0 ]; then
        log "PostgreSQL is not installed and installing it needs root (apt-get install postgresql)"
        exit 1
    fi
    log "installing PostgreSQL with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
}

ensure_cluster() {
    local bindir="$1"
    mkdir -p "$PG_DIR"
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$PG_DIR"
    fi
    if [ -f "$DATA_DIR/PG_VERSION" ]; then
        return
    fi
    log "creating cluster in $DATA_DIR"
    # Local socket connections are trusted (only the postgres OS user can reach
    # the socket directory); TCP connections need a password.
    as_postgres "$bindir/initdb" -D "$DATA_DIR" -U postgres \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >&2
}

server_ready() {
    as_postgres "$1/pg_isready" -q -h "$PG_DIR" -p "$PG_PORT" >/dev/null 2>&1
}

# A server killed hard (e.g. when a session ends) leaves postmaster.pid behind; the
# pid in it may be dead or reused, which makes `pg_ctl status` lie. Trust readiness.
clear_stale_pid() {
    local pidfile="$DATA_DIR/postmaster.pid" pid
    [ -f "$pidfile" ] || return 0
    pid="$(head -n 1 "$pidfile")"
    if ! ps -o comm= -p "$pid" 2>/dev/null | grep -q postgres; then
        log "removing stale $pidfile (pid $pid is not a postgres process)"
        rm -f "$pidfile"
    fi
}

ensure_running() {
    local bindir="$1"
    if server_ready "$bindir"; then
        log "server already running on port $PG_PORT"
        return
    fi
    clear_stale_pid
    log "starting server on 127.0.0.1:$PG_PORT"
    as_postgres "$bindir/pg_ctl" -D "$DATA_DIR" -l "$PG_DIR/server.log" -w \
        -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1" start >&2
}

psql_admin() {
    as_postgres psql -X -q -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 -tA "$@"
}

ensure_role_and_db() {
    if [ -z "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'")" ]; then
        log "creating role $DB_USER"
        psql_admin -c "CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASSWORD'"
    fi
    if [ -z "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" ]; then
        log "creating database $DB_NAME"
        psql_admin -c "CREATE DATABASE $DB_NAME OWNER $DB_USER"
    fi
}

main() {
    ensure_installed
    local bindir
    bindir="$(find_bindir)"
    ensure_cluster "$bindir"
    ensure_running "$bindir"
    ensure_role_and_db
    echo "postgresql+psycopg://$DB_USER:$DB_PASSWORD@127.0.0.1:$PG_PORT/$DB_NAME"
}

main "$@"
