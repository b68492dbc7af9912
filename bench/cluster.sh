#!/usr/bin/env bash
# Cluster benchmark: bid fan-out across two socketio-bench-server instances sharing Redis
# through the Redis adapter. S sockets split over both instances, all in one room; reports
# acked bids/s and delivery latency (bid sent -> `bid` received by every socket on both
# instances). Loopback only; every wait bounded. Results: .data/bench/cluster-*.json and
# .data/bench/cluster.md. Run: `make bench-cluster`.
set -euo pipefail
cd "$(dirname "$0")/.."

PORTS=("${BENCH_PORT_A:-3310}" "${BENCH_PORT_B:-3311}")
REDIS_PORT="${BENCH_REDIS_PORT:-6399}"
SOCKETS="${BENCH_SOCKETS:-1000}"
EMITTERS="${BENCH_EMITTERS:-10}"
SECONDS_PER_RATE="${BENCH_SECONDS:-10}"
RATES="${BENCH_RATES:-50 100 200}"
CONFIGURATION="${BENCH_CONFIGURATION:-release}"
SCRATCH="${BENCH_SCRATCH:-.build-bench}"
OUT=.data/bench
SERVER="$SCRATCH/$CONFIGURATION/socketio-bench-server"
BENCH="$SCRATCH/$CONFIGURATION/auction-bench"

mkdir -p "$OUT/cluster"
rm -f "$OUT"/cluster-*.json
echo "== building $CONFIGURATION binaries"
swift build --scratch-path "$SCRATCH" -c "$CONFIGURATION" --product socketio-bench-server
swift build --scratch-path "$SCRATCH" -c "$CONFIGURATION" --product auction-bench
if [ "$(id -u)" = 0 ]; then ulimit -Hn 65536 2>/dev/null || true; fi
ulimit -Sn "$(ulimit -Hn)"

pids=()
cleanup() {
    for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
    for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on $1 after 10 s" >&2
    exit 1
}

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$OUT/cluster" \
    >"$OUT/cluster/redis.log" 2>&1 &
pids+=($!)
wait_port "$REDIS_PORT"
urls=()
for port in "${PORTS[@]}"; do
    "$SERVER" --host 127.0.0.1 --port "$port" --redis "redis://127.0.0.1:$REDIS_PORT" >"$OUT/cluster/server-$port.log" 2>&1 &
    pids+=($!)
    wait_port "$port"
    urls+=(--url "http://127.0.0.1:$port")
done
echo "== two instances on ${PORTS[*]} sharing redis://127.0.0.1:$REDIS_PORT"

results=()
failures=()
for rate in $RATES; do
    echo "-- $SOCKETS sockets over two instances, offered $rate bids/s"
    if timeout $((SECONDS_PER_RATE + 180)) "$BENCH" fanout "${urls[@]}" --sockets "$SOCKETS" --emitters "$EMITTERS" \
        --rate "$rate" --duration "$SECONDS_PER_RATE" --room cluster --json "$OUT/cluster-fanout-$rate.json"; then
        results+=("$OUT/cluster-fanout-$rate.json")
    else
        failures+=("fanout at $rate bids/s")
    fi
done

{
    echo "# Cluster benchmark: fan-out across two instances over Redis"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "- machine: $(nproc) cores, $(uname -sr); build: $CONFIGURATION; Redis $(redis-server --version | awk '{print $3}')"
    echo "- two \`socketio-bench-server --redis\` instances, $SOCKETS sockets split between them in one room; load generator on the same machine"
    echo
    if [ ${#results[@]} -gt 0 ]; then "$BENCH" report "${results[@]}"; fi
    for failure in ${failures[@]+"${failures[@]}"}; do echo "- FAILED: $failure"; done
} >"$OUT/cluster.md"
cat "$OUT/cluster.md"
[ ${#failures[@]} -eq 0 ]
