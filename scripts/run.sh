#!/usr/bin/env bash
# `make run`: the whole service locally, on loopback, with data under .data/.
#
#   1. scripts/install-deps.sh        what is missing (Debian packages as root, the Python venv)
#   2. PostgreSQL                     .data/postgres on 127.0.0.1:$PG_PORT (reused when initialised)
#   3. Redis                          Debian's redis-server on 127.0.0.1:$REDIS_PORT, data (AOF) in
#                                     .data/redis, a child of this script
#   4. swift build --product auction  one debug build
#   5. auction migrate, auction seed  schema and demo data (both idempotent)
#   6. auction serve                  one instance per port in $INSTANCE_PORTS (3000 and 3001), all
#                                     with the same DATABASE_URL, REDIS_URL and JWT_SECRET, each
#                                     with INSTANCE_ID = its port (sids `3000.…`, `3001.…`)
#   7. nginx                          Debian's nginx on 127.0.0.1:$LB_PORT, the load balancer that
#                                     keeps each session on its instance by the sid's tag
#                                     (deploy/nginx/auction.conf.template, rendered into
#                                     .data/nginx by deploy/nginx/render-local.sh), in the foreground
#   +  with REDIS_MODE=cluster (`make run-cluster`): instead of step 3, a local Redis Cluster of
#      3 primaries + 3 replicas on 127.0.0.1:$REDIS_CLUSTER_PORT… (scripts/redis-cluster.sh, data
#      in $REDIS_CLUSTER_DIR), the instances on it through REDIS_CLUSTER_NODES with the sharded adapter
#   +  with WITH_PROMETHEUS=1 (`make run-observed`): Debian's prometheus on 127.0.0.1:$PROMETHEUS_PORT
#      scraping every instance (scripts/prometheus.sh; config and data in $PROMETHEUS_DIR)
#   8. prints the URL and the demo logins, then waits; Ctrl-C stops everything it started.
#      If any child (an instance, Redis, nginx) exits, the rest is stopped too.
#
# Environment (all optional):
#   PG_PORT (5433), PG_DIR (.data/postgres), REDIS_PORT (6380), REDIS_DIR (.data/redis),
#   INSTANCE_PORTS ("3000 3001"), LB_PORT (8080), NGINX_DIR (.data/nginx),
#   JWT_SECRET (default: a random one kept in .data/jwt-secret so logins survive restarts),
#   SKIP_DEPS=1 (do not run install-deps.sh), BIN_DIR (.build/debug).
#   REDIS_MODE=cluster, REDIS_CLUSTER_PORT (7100: nodes 7100-7105), REDIS_CLUSTER_DIR (.data/redis-cluster).
#   WITH_PROMETHEUS=1 (also Prometheus; install-deps.sh then installs it), PROMETHEUS_PORT (9090),
#   PROMETHEUS_DIR (.data/prometheus), SCRAPE_INTERVAL (5s).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

PG_PORT=${PG_PORT:-5433}
PG_DIR=${PG_DIR:-.data/postgres}
INSTANCE_PORTS=${INSTANCE_PORTS:-3000 3001}
REDIS_PORT=${REDIS_PORT:-6380}
REDIS_DIR=${REDIS_DIR:-.data/redis}
LB_PORT=${LB_PORT:-8080}
NGINX_DIR=${NGINX_DIR:-.data/nginx}
BIN_DIR=${BIN_DIR:-.build/debug}
AUCTION="$BIN_DIR/auction"
READY_TIMEOUT=${READY_TIMEOUT:-60}   # seconds an instance may take to answer /healthz

say() { printf '\033[1mrun:\033[0m %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# --- what this script started, stopped in reverse order on exit -------------------------
INSTANCE_PIDS=()
PG_STARTED=0
REDIS_PID=""
NGINX_PID=""

# stop_child NAME PID SECONDS: SIGTERM, a bounded wait, then SIGKILL.
stop_child() {
    local name=$1 pid=$2 limit=$3 i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    say "stopping $name ($pid)"
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 $((limit * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name ($pid) did not stop within $limit s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    return 0
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e
    # The load balancer first (no new traffic), then the instances, then Redis and PostgreSQL.
    if [ -n "$NGINX_PID" ]; then stop_child nginx "$NGINX_PID" 10; fi
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
    if [ -n "${PROMETHEUS_PID:-}" ]; then stop_child prometheus "$PROMETHEUS_PID" 10; fi
    if [ -n "$REDIS_PID" ]; then stop_child redis-server "$REDIS_PID" 10; fi
    if [ "${REDIS_CLUSTER_STARTED:-0}" -eq 1 ]; then
        say "stopping the Redis Cluster"
        bash scripts/redis-cluster.sh stop "$REDIS_CLUSTER_DIR" || true
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
# The official Socket.IO browser client, served by the instances (SOCKETIO_CLIENT_JS); without
# it the pages fall back to the CDN, so a failure here is only a warning.
if [ -z "${SOCKETIO_CLIENT_JS:-}" ] && [ -f scripts/socketio-client.sh ]; then
    if client_env=$(bash scripts/socketio-client.sh env); then
        eval "$client_env"
    else
        say "warning: no local Socket.IO client script; the pages will load it from the CDN"
    fi
fi

for port in $INSTANCE_PORTS $LB_PORT; do
    port_in_use "$port" && die "port $port on 127.0.0.1 is already in use (another 'make run'?)"
done
command -v redis-server >/dev/null || die "redis-server not found (Debian package redis-server: bash scripts/install-deps.sh)"
command -v redis-cli >/dev/null || die "redis-cli not found (Debian package redis-tools: bash scripts/install-deps.sh)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx not found (Debian package nginx: bash scripts/install-deps.sh)"

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

# --- 3. Redis --------------------------------------------------------------------------
REDIS_MODE=${REDIS_MODE:-single}
REDIS_CLUSTER_PORT=${REDIS_CLUSTER_PORT:-7100}
REDIS_CLUSTER_DIR=${REDIS_CLUSTER_DIR:-.data/redis-cluster}
REDIS_CLUSTER_STARTED=0
redis_ping() { [ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
mkdir -p "$REDIS_DIR"
REDIS_DIR=$(cd "$REDIS_DIR" && pwd)
if [ "$REDIS_MODE" = cluster ]; then
    say "Redis Cluster on 127.0.0.1:$REDIS_CLUSTER_PORT-$((REDIS_CLUSTER_PORT + 5)) (data in $REDIS_CLUSTER_DIR)"
    REDIS_CLUSTER_STARTED=1
    REDIS_CLUSTER_NODES=$(bash scripts/redis-cluster.sh start "$REDIS_CLUSTER_DIR" "$REDIS_CLUSTER_PORT")
    export REDIS_CLUSTER_NODES
    unset REDIS_URL
elif port_in_use "$REDIS_PORT"; then
    # A redis-server left behind by a run that was killed (SIGKILL skips the cleanup) is reused.
    actual_dir=$(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" config get dir 2>/dev/null | sed -n 2p || true)
    [ "$actual_dir" = "$REDIS_DIR" ] ||
        die "port $REDIS_PORT on 127.0.0.1 is in use by something other than a Redis with data in $REDIS_DIR (set REDIS_PORT)"
    say "Redis already running with data in $REDIS_DIR: reusing it (it is left running on exit)"
else
    say "redis-server on 127.0.0.1:$REDIS_PORT (data and log in $REDIS_DIR)"
    # Foreground child; append-only file so sessions survive a restart of `make run`.
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes --daemonize no \
        --dir "$REDIS_DIR" --appendonly yes --save "" --logfile "$REDIS_DIR/redis.log" </dev/null &
    REDIS_PID=$!
    deadline=$((SECONDS + 20))
    until redis_ping; do
        kill -0 "$REDIS_PID" 2>/dev/null || { tail -n 20 "$REDIS_DIR/redis.log" >&2; die "redis-server exited during start-up"; }
        [ "$SECONDS" -lt "$deadline" ] || die "redis-server did not answer PING within 20 s"
        sleep 0.2
    done
fi
if [ "$REDIS_MODE" = cluster ]; then
    REDIS_SHOWN="Redis Cluster $REDIS_CLUSTER_NODES (sharded adapter)"
else
    export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
    REDIS_SHOWN=$REDIS_URL
fi
say "Redis: $REDIS_SHOWN"

# --- 4. build --------------------------------------------------------------------------
say "swift build --product auction"
swift build --product auction
[ -x "$AUCTION" ] || die "$AUCTION was not built"

# --- 5. schema and demo data -----------------------------------------------------------
if [ -z "${JWT_SECRET:-}" ]; then
    if [ ! -s .data/jwt-secret ]; then
        mkdir -p .data
        (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >.data/jwt-secret)
    fi
    JWT_SECRET=$(cat .data/jwt-secret)
fi
export JWT_SECRET
export APP_ENV=${APP_ENV:-development}
# The load balancer (nginx on loopback) names the client in X-Forwarded-For; nobody else may.
export TRUSTED_PROXIES=${TRUSTED_PROXIES:-127.0.0.1}

"$AUCTION" migrate --directory sql
SEED_OUTPUT=$("$AUCTION" seed)
printf '%s\n' "$SEED_OUTPUT"

# --- 6. instances ----------------------------------------------------------------------
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
        kill -0 "$pid" 2>/dev/null || die "the process for port $port exited during start-up"
        if healthy "$port"; then return 0; fi
        sleep 0.2
    done
    die "port $port did not answer /healthz within ${READY_TIMEOUT} s"
}

# The port is the tag: unique by construction, and what nginx's routes and the sids then name.
for port in $INSTANCE_PORTS; do start_instance "$port" INSTANCE_ID="$port"; done
i=0
for port in $INSTANCE_PORTS; do
    wait_healthy "$port" "${INSTANCE_PIDS[$i]}"
    i=$((i + 1))
done

# --- 7. the load balancer --------------------------------------------------------------
upstreams=()
for port in $INSTANCE_PORTS; do upstreams+=("$port=127.0.0.1:$port"); done
NGINX_CONF=$(bash deploy/nginx/render-local.sh "$NGINX_DIR" "127.0.0.1:$LB_PORT" "${upstreams[@]}")
"$NGINX" -t -q -p "$(dirname "$NGINX_CONF")/" -c "$NGINX_CONF" || die "nginx rejected $NGINX_CONF"
say "nginx on 127.0.0.1:$LB_PORT -> ${upstreams[*]} (config $NGINX_CONF)"
"$NGINX" -p "$(dirname "$NGINX_CONF")/" -c "$NGINX_CONF" </dev/null &
NGINX_PID=$!
wait_healthy "$LB_PORT" "$NGINX_PID"

# --- Prometheus (make run-observed) ---------------------------------------------------
if [ "${WITH_PROMETHEUS:-0}" = 1 ]; then
    PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
    port_in_use "$PROMETHEUS_PORT" && die "port $PROMETHEUS_PORT on 127.0.0.1 is already in use (set PROMETHEUS_PORT)"
    targets=()
    for port in $INSTANCE_PORTS; do targets+=("127.0.0.1:$port"); done
    bash scripts/prometheus.sh "${PROMETHEUS_DIR:-.data/prometheus}" "127.0.0.1:$PROMETHEUS_PORT" "${targets[@]}" &
    PROMETHEUS_PID=$!
    deadline=$((SECONDS + 20))
    until port_in_use "$PROMETHEUS_PORT"; do
        kill -0 "$PROMETHEUS_PID" 2>/dev/null || die "prometheus exited during start-up"
        [ "$SECONDS" -lt "$deadline" ] || die "prometheus did not listen on 127.0.0.1:$PROMETHEUS_PORT within 20 s"
        sleep 0.2
    done
fi

# --- 8. tell the user ------------------------------------------------------------------
{
    echo
    echo "  Auction is running. Open:  http://127.0.0.1:$LB_PORT/   (nginx, sticky per session)"
    for port in $INSTANCE_PORTS; do echo "    instance: http://127.0.0.1:$port/"; done
    echo "  Demo logins (password password123):"
    echo "    alice@example.com (Alice)   bob@example.com (Bob)   carol@example.com (Carol)"
    echo "  PostgreSQL: $DATABASE_URL"
    echo "  Redis:      $REDIS_SHOWN"
    if [ -n "${PROMETHEUS_PID:-}" ]; then
        echo "  Prometheus: http://127.0.0.1:$PROMETHEUS_PORT/   (dashboard: deploy/grafana/auction.json)"
    fi
    echo "  Ctrl-C stops everything started here."
    echo
} >&2

# Until Ctrl-C, or until a child dies (then everything else is stopped too).
CHILDREN=("${INSTANCE_PIDS[@]}" "$NGINX_PID")
[ -n "$REDIS_PID" ] && CHILDREN+=("$REDIS_PID")
[ -n "${PROMETHEUS_PID:-}" ] && CHILDREN+=("$PROMETHEUS_PID")
set +e
wait -n "${CHILDREN[@]}"
status=$?
set -e
for pid in "${CHILDREN[@]}"; do
    kill -0 "$pid" 2>/dev/null && continue
    case "$pid" in
        "$NGINX_PID") say "nginx exited (status $status); stopping the rest" ;;
        "$REDIS_PID") say "redis-server exited (status $status); stopping the rest" ;;
        "${PROMETHEUS_PID:-}") say "prometheus exited (status $status); stopping the rest" ;;
        *) say "an auction instance ($pid) exited with status $status; stopping the rest" ;;
    esac
done
[ "$status" -eq 0 ] && status=1
exit "$status"
