#!/usr/bin/env bash
# `make bench`: our Socket.IO server against python-socketio, the same minimal app, the same
# load, one after the other on this machine. Shapes:
#   single  — one instance, FANOUT sockets in one room, offered bid rates swept upwards;
#   cluster — two instances sharing Redis, CLUSTER sockets split between them, rates swept;
#   idle    — IDLE WebSockets held on one instance; resident memory per connection;
#   idle-polling — IDLE_POLLING Engine.IO long-polling sessions (never upgraded, one GET held
#             each) on one instance, from bench/idle_polling.py; resident memory per session;
#   everyday1 / everyday2 — EVERYDAY sockets in one room at the fixed rates EVERYDAY_RATES (no
#             sweep), on one instance and on two over Redis: server CPU per delivery; ours runs
#             twice, with the default write window and with EVERYDAY_WINDOW_MS ("swiftw").
# Every fan-out run reports the servers' CPU (user + system from /proc/<pid>/stat, Redis not
# included) per delivery.
# A server's sweep stops at its first saturated rate (a bid lost or unacked, or delivery p99 over
# SATURATED_MS), so a slow peer does not stretch the run. Results: .data/bench/compare/*.json,
# then BENCHMARKS.md and docs/bench-p99.png written by bench/report.py. Loopback only; every
# wait is bounded. Environment knobs are the BENCH_* variables below.
set -euo pipefail
cd "$(dirname "$0")/.."

CONFIGURATION="${BENCH_CONFIGURATION:-release}"
SCRATCH="${BENCH_SCRATCH:-.build-bench}"
OUT="${BENCH_OUT:-.data/bench/compare}"
SINGLE_SOCKETS="${BENCH_SINGLE_SOCKETS:-200}"
SINGLE_RATES="${BENCH_SINGLE_RATES:-10 25 50 100 150 200 300 400 600 800 1000}"
CLUSTER_SOCKETS="${BENCH_CLUSTER_SOCKETS:-1000}"
CLUSTER_RATES="${BENCH_CLUSTER_RATES:-5 10 25 50 100 150 200 300}"
EMITTERS="${BENCH_EMITTERS:-10}"
SECONDS_PER_RATE="${BENCH_SECONDS:-8}"
IDLE_CONNECTIONS="${BENCH_IDLE_CONNECTIONS:-20000}"
IDLE_POLLING="${BENCH_IDLE_POLLING:-5000}"
EVERYDAY_SOCKETS="${BENCH_EVERYDAY_SOCKETS:-200}"
EVERYDAY_RATES="${BENCH_EVERYDAY_RATES:-150 300}"
EVERYDAY_SECONDS="${BENCH_EVERYDAY_SECONDS:-10}"
# Ours once more at the everyday load with writes to a WebSocket at least this far apart (0: not run).
EVERYDAY_WINDOW_MS="${BENCH_EVERYDAY_WINDOW_MS:-20}"
SATURATED_MS="${BENCH_SATURATED_MS:-1000}"
SERVERS="${BENCH_SERVERS:-swift python}"
PORT_A="${BENCH_PORT_A:-3410}"
PORT_B="${BENCH_PORT_B:-3411}"
REDIS_PORT="${BENCH_REDIS_PORT:-6410}"
VENV_PY=.data/venv/bin/python
SWIFT_SERVER="$SCRATCH/$CONFIGURATION/socketio-bench-server"
BENCH="$SCRATCH/$CONFIGURATION/auction-bench"

say() { printf '== %s\n' "$*"; }
started=$(date +%s)

# --- what the run needs ------------------------------------------------------
command -v redis-server >/dev/null || { echo "redis-server missing: run \`make deps\` (as root) first" >&2; exit 1; }
[ -x "$VENV_PY" ] || { echo "$VENV_PY missing: run \`make deps\` first" >&2; exit 1; }
if ! "$VENV_PY" -c 'import socketio, aiohttp, redis, matplotlib' >/dev/null 2>&1; then
    say "pip: bench/peers/python-socketio/requirements.txt"
    "$VENV_PY" -m pip install -q --disable-pip-version-check -r bench/peers/python-socketio/requirements.txt
fi
say "building $CONFIGURATION binaries in $SCRATCH (nothing to do when they are current)"
build_started=$(date +%s)
swift build --scratch-path "$SCRATCH" -c "$CONFIGURATION" --product socketio-bench-server
swift build --scratch-path "$SCRATCH" -c "$CONFIGURATION" --product auction-bench
build_seconds=$(( $(date +%s) - build_started ))

# 20,000 clients and as many server-side sockets each need a descriptor; children inherit this.
if [ "$(id -u)" = 0 ]; then ulimit -Hn 1048576 2>/dev/null || ulimit -Hn 65536 2>/dev/null || true; fi
ulimit -Sn "$(ulimit -Hn)"
say "open-file limit $(ulimit -n)"
# Each process needs a descriptor per connection plus a few of its own; where the hard limit
# cannot be raised (this machine: 20,000 for root too), hold as many as fits.
if [ "$IDLE_CONNECTIONS" -gt $(( $(ulimit -n) - 100 )) ]; then
    IDLE_CONNECTIONS=$(( $(ulimit -n) - 100 ))
    say "idle connections lowered to $IDLE_CONNECTIONS by the open-file limit"
fi
if [ "$IDLE_POLLING" -gt $(( $(ulimit -n) - 100 )) ]; then
    IDLE_POLLING=$(( $(ulimit -n) - 100 ))
    say "idle long-polling sessions lowered to $IDLE_POLLING by the open-file limit"
fi

mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.log

# --- processes -----------------------------------------------------------------
pids=()
redis_pid=""
stop_servers() {
    for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
    for pid in ${pids[@]+"${pids[@]}"}; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}
cleanup() {
    stop_servers
    if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
    local port="$1" pid="$2" log="$3"
    for _ in $(seq 1 150); do
        # A bare TCP probe: an HTTP request would open a session and skew the memory baseline.
        port_open "$port" && return 0
        kill -0 "$pid" 2>/dev/null || { echo "server on $port exited; log:" >&2; cat "$log" >&2; exit 1; }
        sleep 0.1
    done
    echo "nothing listens on $port after 15 s; log:" >&2
    cat "$log" >&2
    exit 1
}

# start_server KIND PORT [REDIS_URL]; the pid lands in $server_pid
start_server() {
    local kind="$1" port="$2" redis="${3:-}" log="$OUT/$1-$2.log"
    if port_open "$port"; then echo "port $port is in use; set BENCH_PORT_A/BENCH_PORT_B" >&2; exit 1; fi
    case "$kind" in
        swift) "$SWIFT_SERVER" --host 127.0.0.1 --port "$port" ${redis:+--redis "$redis"} >"$log" 2>&1 & ;;
        swiftw) "$SWIFT_SERVER" --host 127.0.0.1 --port "$port" ${redis:+--redis "$redis"} \
            --write-coalescing-ms "$EVERYDAY_WINDOW_MS" >"$log" 2>&1 & ;;
        python) "$VENV_PY" bench/peers/python-socketio/server.py --host 127.0.0.1 --port "$port" ${redis:+--redis "$redis"} >"$log" 2>&1 & ;;
        *) echo "unknown server kind $kind" >&2; exit 1 ;;
    esac
    server_pid=$!
    pids+=("$server_pid")
    wait_port "$port" "$server_pid" "$log"
}

# saturated FILE: a run where a bid was lost or unacked, or delivery p99 passed SATURATED_MS.
saturated() {
    "$VENV_PY" - "$1" "$SATURATED_MS" <<'EOF'
import json, sys
result = json.load(open(sys.argv[1]))
traffic = result["traffic"]
complete = traffic["delivered"] == traffic["expectedDeliveries"] and traffic["unacked"] == 0
sys.exit(0 if not complete or result["latency"]["delivery"]["p99Ms"] > float(sys.argv[2]) else 1)
EOF
}

failures=()

# sweep KIND SHAPE SOCKETS "RATES" URL... (SWEEP_SECONDS per rate; SWEEP_ALL=1 runs every rate)
sweep() {
    local kind="$1" shape="$2" sockets="$3" rates="$4"
    shift 4
    local urls=() cpu=()
    for url in "$@"; do urls+=(--url "$url"); done
    for pid in ${pids[@]+"${pids[@]}"}; do cpu+=(--server-pid "$pid"); done
    local seconds="${SWEEP_SECONDS:-$SECONDS_PER_RATE}"
    for rate in $rates; do
        local file="$OUT/fanout-$shape-$kind-$rate.json"
        say "$kind, $shape: $sockets sockets, offered $rate bids/s for ${seconds}s"
        if ! timeout $((seconds + 120)) "$BENCH" fanout "${urls[@]}" --sockets "$sockets" --emitters "$EMITTERS" \
            --rate "$rate" --duration "$seconds" --drain 5 --room "bench-$rate" ${cpu[@]+"${cpu[@]}"} --json "$file"; then
            failures+=("$kind $shape fanout at $rate bids/s")
            rm -f "$file"
            return 0
        fi
        if [ -z "${SWEEP_ALL:-}" ] && saturated "$file"; then
            say "$kind saturated at $rate bids/s in shape $shape; higher rates skipped"
            return 0
        fi
    done
}

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$OUT" >"$OUT/redis.log" 2>&1 &
redis_pid=$!
wait_port "$REDIS_PORT" "$redis_pid" "$OUT/redis.log"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

for kind in $SERVERS; do
    say "$kind: one instance on $PORT_A"
    start_server "$kind" "$PORT_A"
    sweep "$kind" single "$SINGLE_SOCKETS" "$SINGLE_RATES" "http://127.0.0.1:$PORT_A"
    stop_servers
done

for kind in $SERVERS; do
    say "$kind: two instances on $PORT_A and $PORT_B sharing $REDIS_URL"
    redis-cli -p "$REDIS_PORT" flushall >/dev/null
    start_server "$kind" "$PORT_A" "$REDIS_URL"
    start_server "$kind" "$PORT_B" "$REDIS_URL"
    sweep "$kind" cluster "$CLUSTER_SOCKETS" "$CLUSTER_RATES" "http://127.0.0.1:$PORT_A" "http://127.0.0.1:$PORT_B"
    stop_servers
done

# Everyday load: fixed rates, every one run (a saturated server shows in its delivery figures).
everyday_kinds=()
for kind in $SERVERS; do
    everyday_kinds+=("$kind")
    if [ "$kind" = swift ] && [ "$EVERYDAY_WINDOW_MS" != 0 ]; then everyday_kinds+=(swiftw); fi
done
for kind in "${everyday_kinds[@]}"; do
    say "$kind: everyday load, one instance on $PORT_A"
    start_server "$kind" "$PORT_A"
    SWEEP_ALL=1 SWEEP_SECONDS="$EVERYDAY_SECONDS" sweep "$kind" everyday1 "$EVERYDAY_SOCKETS" "$EVERYDAY_RATES" "http://127.0.0.1:$PORT_A"
    stop_servers
    say "$kind: everyday load, two instances on $PORT_A and $PORT_B sharing $REDIS_URL"
    redis-cli -p "$REDIS_PORT" flushall >/dev/null
    start_server "$kind" "$PORT_A" "$REDIS_URL"
    start_server "$kind" "$PORT_B" "$REDIS_URL"
    SWEEP_ALL=1 SWEEP_SECONDS="$EVERYDAY_SECONDS" sweep "$kind" everyday2 "$EVERYDAY_SOCKETS" "$EVERYDAY_RATES" "http://127.0.0.1:$PORT_A" "http://127.0.0.1:$PORT_B"
    stop_servers
done

for kind in $SERVERS; do
    say "$kind: $IDLE_CONNECTIONS idle WebSockets on one instance"
    start_server "$kind" "$PORT_A"
    # Let the interpreter or runtime finish starting before the baseline is read.
    sleep 1
    if ! timeout 900 "$BENCH" idle --url "http://127.0.0.1:$PORT_A" --connections "$IDLE_CONNECTIONS" \
        --pid "$server_pid" --hold 3 --json "$OUT/idle-$kind.json"; then
        failures+=("$kind idle")
        rm -f "$OUT/idle-$kind.json"
    fi
    stop_servers
done

for kind in $SERVERS; do
    say "$kind: $IDLE_POLLING idle long-polling sessions on one instance"
    start_server "$kind" "$PORT_A"
    sleep 1
    if ! timeout 900 "$VENV_PY" bench/idle_polling.py --url "http://127.0.0.1:$PORT_A" --connections "$IDLE_POLLING" \
        --pid "$server_pid" --hold 3 --json "$OUT/idle-polling-$kind.json"; then
        failures+=("$kind idle-polling")
        rm -f "$OUT/idle-polling-$kind.json"
    fi
    stop_servers
done

run_seconds=$(( $(date +%s) - started - build_seconds ))
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit (uncommitted changes)"; fi
"$VENV_PY" bench/report.py --results "$OUT" --markdown BENCHMARKS.md --plot docs/bench-p99.png \
    --commit "$commit" --run-seconds "$run_seconds" --build-seconds "$build_seconds" \
    --saturated-ms "$SATURATED_MS" --everyday-window-ms "${EVERYDAY_WINDOW_MS:-20}" --redis-version "$(redis-server --version | awk '{print $3}')" \
    ${failures[@]+--failure "${failures[@]}"}
say "written BENCHMARKS.md and docs/bench-p99.png (run ${run_seconds}s, build ${build_seconds}s)"
[ ${#failures[@]} -eq 0 ]
