#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for development and tests, on loopback only.
#
#   scripts/postgres.sh start  DIR PORT   initdb DIR if needed (trust auth on 127.0.0.1 only),
#                                         start it on 127.0.0.1:PORT (unix socket inside DIR),
#                                         create database "auction", print the DATABASE_URL
#   scripts/postgres.sh stop   DIR        fast shutdown (no-op when it is not running)
#   scripts/postgres.sh status DIR        exit 0 when running
#   scripts/postgres.sh url    DIR PORT   print the DATABASE_URL
#
# DIR holds everything: DIR/data (the cluster), DIR/run (unix socket), DIR/postgres.log.
# As root, the server runs as the "postgres" user (initdb refuses root); DIR is chowned to it.
# Only the URL goes to stdout; progress goes to stderr. Every wait is bounded.
# Environment: PG_BIN (default: /usr/lib/postgresql/15/bin, else the newest installed),
#              PG_USER (role and OS user when root, default postgres), PG_DB (default auction).
set -euo pipefail

usage() { echo "usage: $0 start|stop|status|url DIR [PORT]" >&2; exit 2; }
say() { printf 'postgres.sh: %s\n' "$*" >&2; }

[ $# -ge 2 ] || usage
cmd=$1
DIR=$2
PORT=${3:-5432}
PG_USER=${PG_USER:-postgres}
PG_DB=${PG_DB:-auction}

if [ -z "${PG_BIN:-}" ]; then
    if [ -x /usr/lib/postgresql/15/bin/pg_ctl ]; then
        PG_BIN=/usr/lib/postgresql/15/bin
    else
        PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    fi
fi
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
    say "PostgreSQL server binaries not found (install the Debian package 'postgresql': bash scripts/install-deps.sh)"
    exit 1
fi

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
DATA="$DIR/data"
SOCK="$DIR/run"
LOG="$DIR/postgres.log"

# Run a server binary as the cluster owner (root cannot own a cluster).
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$PG_USER" -- "$@"
    else
        "$@"
    fi
}

# Trust auth ignores the password; it is there so the URL has the usual user:pass form.
url() { echo "postgres://$PG_USER:$PG_USER@127.0.0.1:$PORT/$PG_DB"; }

running() { [ -f "$DATA/PG_VERSION" ] && as_owner "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

init_cluster() {
    [ -f "$DATA/PG_VERSION" ] && return 0
    say "initdb $DATA"
    rm -rf "$DATA"
    mkdir -p "$DATA" "$SOCK"
    if [ "$(id -u)" -eq 0 ]; then
        chown "$PG_USER" "$DIR"
        chown -R "$PG_USER" "$DATA" "$SOCK"
    fi
    chmod 700 "$DATA"
    # Trust on loopback TCP and the private socket only; nothing else is accepted.
    as_owner "$PG_BIN/initdb" -D "$DATA" -U "$PG_USER" -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=reject >"$DIR/initdb.log" 2>&1 || {
        cat "$DIR/initdb.log" >&2
        exit 1
    }
    cat >"$DATA/pg_hba.conf" <<'EOF'
# Throwaway cluster (scripts/postgres.sh): loopback only, no passwords.
local   all   all                  trust
host    all   all   127.0.0.1/32   trust
EOF
    cat >>"$DATA/postgresql.conf" <<EOF

# scripts/postgres.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCK'
fsync = off
synchronous_commit = on
full_page_writes = off
max_connections = 100
EOF
}

start() {
    init_cluster
    mkdir -p "$SOCK"
    if [ "$(id -u)" -eq 0 ]; then chown "$PG_USER" "$SOCK" "$DIR"; fi
    if running; then
        local actual
        actual=$(sed -n 4p "$DATA/postmaster.pid" 2>/dev/null || true)
        if [ -n "$actual" ] && [ "$actual" != "$PORT" ]; then
            say "already running from $DATA on port $actual, not $PORT (stop it first)"
            exit 1
        fi
        say "already running ($DATA)"
    else
        # The port is given on the command line so one data dir can move ports.
        touch "$LOG"
        if [ "$(id -u)" -eq 0 ]; then chown "$PG_USER" "$LOG"; fi
        say "starting on 127.0.0.1:$PORT (log $LOG)"
        if ! as_owner "$PG_BIN/pg_ctl" -D "$DATA" -l "$LOG" -o "-p $PORT -k $SOCK" -w -t 30 start >/dev/null; then
            say "failed to start; last lines of $LOG:"
            tail -n 20 "$LOG" >&2
            exit 1
        fi
    fi
    # Bounded wait for connections on the TCP port, then create the database once.
    local i
    for i in $(seq 1 60); do
        if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U "$PG_USER"; then break; fi
        [ "$i" -eq 60 ] && { say "not ready on 127.0.0.1:$PORT after 30 s"; exit 1; }
        sleep 0.5
    done
    local psql=(env PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1)
    if [ "$("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]; then
        "${psql[@]}" -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
        say "created database $PG_DB"
    fi
    url
}

stop() {
    if running; then
        say "stopping ($DATA)"
        as_owner "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null
    else
        say "not running ($DATA)"
    fi
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    status) running ;;
    url) url ;;
    *) usage ;;
esac
