#!/usr/bin/env bash
# `make run`: the whole service locally, on loopback, with data under .data/.
#
#   1. scripts/install-deps.sh        what is missing (Debian packages as root, the Python venv)
#   2. PostgreSQL                     .data/postgres on 127.0.0.1:$PG_PORT (reused when initialised)
#   3. swift build --product auction  one debug build
#   4. auction migrate, auction seed  schema and demo data (both idempotent)
#   5. auction serve                  one instance per port in $INSTANCE_PORTS
#   6. prints the URL and the demo logins, then waits; Ctrl-C stops everything it started.
#
# Environment (all optional):
#   PG_PORT (5433), PG_DIR (.data/postgres), INSTANCE_PORTS ("3000"),
#   JWT_SECRET (default: a random one kept in .data/jwt-secret so logins survive restarts),
#   SKIP_DEPS=1 (do not run install-deps.sh), BIN_DIR (.build/debug).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

PG_PORT=${PG_PORT:-5433}
PG_DIR=${PG_DIR:-.data/postgres}
INSTANCE_PORTS=${INSTANCE_PORTS:-3000}
BIN_DIR=${BIN_DIR:-.build/debug}
AUCTION="$BIN_DIR/auction"
READY_TIMEOUT=${READY_TIMEOUT:-60}   # seconds an instance may take to answer /healthz

say() { printf '\033[1mrun:\033[0m %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# --- what this script started, stopped in reverse order on exit -------------------------
INSTANCE_PIDS=()
PG_STARTED=0

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e
    if [ "${#INSTANCE_PIDS[@]}" -gt 0 ]; then
        say "stopping auction instances (${INSTANCE_PIDS[*]})"
        for pid in "${INSTANCE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
        # Bounded graceful shutdown (the service drains sessions on SIGTERM), then SIGKILL.
        for _ in $(seq 1 100); do
            local alive=0
            for pid in "${INSTANCE_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
            [ "$alive" -eq 0 ] && break
            sleep 0.1
        done
        for pid in "${INSTANCE_PIDS[@]}"; do
            if kill -0 "$pid" 2>/dev/null; then
                say "instance $pid did not stop within 10 s: SIGKILL"
                kill -KILL "$pid" 2>/dev/null
            fi
            wait "$pid" 2>/dev/null
        done
    fi
    if [ "$PG_STARTED" -eq 1 ]; then
        say "stopping PostgreSQL"
        bash scripts/postgres.sh stop "$PG_DIR" || true
    fi
    say "stopped"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
# healthy PORT: GET /healthz answers 200 within 3 s (bash's /dev/tcp: no curl needed).
healthy() {
    timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" &&
        printf "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n" "$1" >&3 &&
        head -n 1 <&3' _ "$1" 2>/dev/null | grep -q '^HTTP/1\.[01] 200'
}

# --- 1. dependencies -------------------------------------------------------------------
if [ "${SKIP_DEPS:-0}" != 1 ]; then
    bash scripts/install-deps.sh
fi

for port in $INSTANCE_PORTS; do
    port_in_use "$port" && die "port $port on 127.0.0.1 is already in use (another 'make run'?)"
done

# --- 2. PostgreSQL ---------------------------------------------------------------------
if bash scripts/postgres.sh status "$PG_DIR" 2>/dev/null; then
    say "PostgreSQL already running from $PG_DIR: reusing it (it is left running on exit)"
    DATABASE_URL=$(bash scripts/postgres.sh start "$PG_DIR" "$PG_PORT")
else
    port_in_use "$PG_PORT" && die "port $PG_PORT on 127.0.0.1 is in use by something else (set PG_PORT)"
    PG_STARTED=1
    DATABASE_URL=$(bash scripts/postgres.sh start "$PG_DIR" "$PG_PORT")
fi
export DATABASE_URL
say "PostgreSQL: $DATABASE_URL"

# --- 3. build --------------------------------------------------------------------------
say "swift build --product auction"
swift build --product auction
[ -x "$AUCTION" ] || die "$AUCTION was not built"

# --- 4. schema and demo data -----------------------------------------------------------
if [ -z "${JWT_SECRET:-}" ]; then
    if [ ! -s .data/jwt-secret ]; then
        mkdir -p .data
        (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >.data/jwt-secret)
    fi
    JWT_SECRET=$(cat .data/jwt-secret)
fi
export JWT_SECRET
export APP_ENV=${APP_ENV:-development}

"$AUCTION" migrate --directory sql
SEED_OUTPUT=$("$AUCTION" seed)
printf '%s\n' "$SEED_OUTPUT"

# --- 5. instances ----------------------------------------------------------------------
start_instance() {   # start_instance PORT [extra env assignments...]
    local port=$1
    shift
    say "auction serve on 127.0.0.1:$port"
    env "$@" PORT="$port" HOST=127.0.0.1 "$AUCTION" serve --port "$port" &
    INSTANCE_PIDS+=("$!")
}

wait_healthy() {     # wait_healthy PORT PID
    local port=$1 pid=$2 deadline=$((SECONDS + READY_TIMEOUT))
    while [ "$SECONDS" -lt "$deadline" ]; do
        kill -0 "$pid" 2>/dev/null || die "the instance on port $port exited during start-up"
        if healthy "$port"; then return 0; fi
        sleep 0.2
    done
    die "the instance on port $port did not answer /healthz within ${READY_TIMEOUT} s"
}

for port in $INSTANCE_PORTS; do start_instance "$port"; done
i=0
for port in $INSTANCE_PORTS; do
    wait_healthy "$port" "${INSTANCE_PIDS[$i]}"
    i=$((i + 1))
done

# --- 6. tell the user ------------------------------------------------------------------
first_port=${INSTANCE_PORTS%% *}
{
    echo
    echo "  Auction is running. Open:  http://127.0.0.1:$first_port/"
    for port in $INSTANCE_PORTS; do echo "    instance: http://127.0.0.1:$port/"; done
    echo "  Demo logins (password password123):"
    echo "    alice@example.com (Alice)   bob@example.com (Bob)   carol@example.com (Carol)"
    echo "  PostgreSQL: $DATABASE_URL"
    echo "  Ctrl-C stops everything started here."
    echo
} >&2

# Until Ctrl-C, or until an instance dies (then everything else is stopped too).
set +e
wait -n "${INSTANCE_PIDS[@]}"
status=$?
set -e
say "an auction instance exited with status $status; stopping the rest"
exit "$status"
