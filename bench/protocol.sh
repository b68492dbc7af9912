#!/usr/bin/env bash
# Protocol benchmark of the Socket.IO library alone (no database, no Redis): fanout latency and
# server CPU per delivery at a few offered rates, the same with padded bids without and with
# permessage-deflate (CPU and bytes received per delivery), then memory per idle connection. Run from anywhere: `make bench-protocol`.
# Loopback only; every wait below is bounded. Results: .data/bench/protocol-*.json and
# .data/bench/protocol.md.
set -euo pipefail

cd "$(dirname "$0")/.."

PORT="${BENCH_PORT:-3300}"
URL="http://127.0.0.1:${PORT}"
RATES="${BENCH_RATES:-50 200 500}"
FANOUT_SOCKETS="${BENCH_FANOUT_SOCKETS:-200}"
FANOUT_EMITTERS="${BENCH_FANOUT_EMITTERS:-10}"
FANOUT_SECONDS="${BENCH_FANOUT_SECONDS:-10}"
IDLE_CONNECTIONS="${BENCH_IDLE_CONNECTIONS:-10000}"
# permessage-deflate: bids padded to about this many bytes of text, at this rate, without and with it.
DEFLATE_PAYLOAD="${BENCH_DEFLATE_PAYLOAD:-2048}"
DEFLATE_RATE="${BENCH_DEFLATE_RATE:-100}"
# Figures are only meaningful from release builds; debug exists to smoke-test this script quickly.
CONFIGURATION="${BENCH_CONFIGURATION:-release}"
OUT=.data/bench
# A scratch folder of its own, so a benchmark build never waits on (or evicts) the debug build.
SCRATCH="${BENCH_SCRATCH:-.build-bench}"
SERVER="$SCRATCH/$CONFIGURATION/socketio-bench-server"
BENCH="$SCRATCH/$CONFIGURATION/auction-bench"

mkdir -p "$OUT"
rm -f "$OUT"/protocol-*.json

echo "== building $CONFIGURATION binaries"
# One product per invocation: `--product` names a single product.
swift build --scratch-path "$SCRATCH" -c "$CONFIGURATION" --product socketio-bench-server
swift build --scratch-path "$SCRATCH" -c "$CONFIGURATION" --product auction-bench

# 10,000 clients and their 10,000 server-side peers each need a descriptor; both processes
# inherit this limit. Root may raise the hard limit too; others get what the hard limit allows.
if [ "$(id -u)" = 0 ]; then
    ulimit -Hn 65536 2>/dev/null || true
    ulimit -Sn 65536 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"
else
    ulimit -Sn "$(ulimit -Hn)"
fi
echo "== open-file limit $(ulimit -n)"

server_pid=""

stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        # SIGTERM first; a server that has not gone after 10 s is killed.
        for _ in $(seq 1 100); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}
trap stop_server EXIT INT TERM

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

start_server() {
    local log="$1"
    shift
    if port_in_use; then
        echo "port $PORT is already in use; set BENCH_PORT to a free port" >&2
        exit 1
    fi
    "$SERVER" --host 127.0.0.1 --port "$PORT" "$@" >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        # A bare TCP probe: an HTTP request would open an Engine.IO session and skew the memory baseline.
        if port_in_use; then
            echo "== server pid $server_pid listening on $URL"
            return 0
        fi
        kill -0 "$server_pid" 2>/dev/null || { echo "server exited; log:" >&2; cat "$log" >&2; exit 1; }
        sleep 0.1
    done
    echo "server did not answer within 10 s; log:" >&2
    cat "$log" >&2
    exit 1
}

failures=()
results=()

echo "== fanout: $FANOUT_SOCKETS sockets in one room, $FANOUT_EMITTERS emitters, ${FANOUT_SECONDS}s per rate"
start_server "$OUT/protocol-server-fanout.log"
for rate in $RATES; do
    echo "-- offered $rate bids/s"
    if timeout $((FANOUT_SECONDS + 120)) "$BENCH" fanout --url "$URL" --sockets "$FANOUT_SOCKETS" \
        --emitters "$FANOUT_EMITTERS" --rate "$rate" --duration "$FANOUT_SECONDS" --room protocol \
        --server-pid "$server_pid" --json "$OUT/protocol-fanout-$rate.json"; then
        results+=("$OUT/protocol-fanout-$rate.json")
    else
        failures+=("fanout at $rate bids/s")
    fi
done
stop_server

# The same fan-out with bids padded to DEFLATE_PAYLOAD bytes, without and then with
# permessage-deflate (server flag and client offer): server CPU and bytes received per delivery.
for deflate in off on; do
    flags=()
    [ "$deflate" = on ] && flags=(--per-message-deflate)
    echo "== fanout with ${DEFLATE_PAYLOAD}-byte bids at $DEFLATE_RATE bids/s, permessage-deflate $deflate"
    start_server "$OUT/protocol-server-deflate-$deflate.log" ${flags[@]+"${flags[@]}"}
    if timeout $((FANOUT_SECONDS + 120)) "$BENCH" fanout --url "$URL" --sockets "$FANOUT_SOCKETS" \
        --emitters "$FANOUT_EMITTERS" --rate "$DEFLATE_RATE" --duration "$FANOUT_SECONDS" --room protocol \
        --payload-bytes "$DEFLATE_PAYLOAD" ${flags[@]+"${flags[@]}"} --server-pid "$server_pid" \
        --json "$OUT/protocol-fanout-deflate-$deflate.json"; then
        results+=("$OUT/protocol-fanout-deflate-$deflate.json")
    else
        failures+=("fanout with permessage-deflate $deflate")
    fi
    stop_server
done

echo "== idle: $IDLE_CONNECTIONS connections against a fresh server"
start_server "$OUT/protocol-server-idle.log"
if timeout 600 "$BENCH" idle --url "$URL" --connections "$IDLE_CONNECTIONS" --pid "$server_pid" \
    --hold 5 --json "$OUT/protocol-idle.json"; then
    results+=("$OUT/protocol-idle.json")
else
    failures+=("idle")
fi
stop_server

commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then commit="$commit (uncommitted changes)"; fi
{
    echo "# Protocol benchmark"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $commit"
    echo "- machine: $(nproc) cores, $(uname -sr), $(swift --version 2>/dev/null | head -n 1)"
    echo "- build: $CONFIGURATION; server \`socketio-bench-server\` and load generator \`auction-bench\` on the same machine, loopback"
    echo "- latencies: one monotonic clock in the load generator; ack = emit to ack, delivery = emit to arrival at each socket of the room (sender included)"
    echo
    if [ ${#results[@]} -gt 0 ]; then "$BENCH" report "${results[@]}"; fi
    for failure in ${failures[@]+"${failures[@]}"}; do echo "- FAILED: $failure (see the log above)"; done
} >"$OUT/protocol.md"

echo
cat "$OUT/protocol.md"
echo "== written $OUT/protocol.md"
[ ${#failures[@]} -eq 0 ]
