#!/usr/bin/env bash
# Sharded-adapter benchmark: the same bid fan-out across two socketio-bench-server instances,
# (1) with the classic adapter on one Redis, (2) with the sharded adapter on a local Redis Cluster
# (3 primaries + 3 replicas), one run. S sockets split over both instances in R rooms; reports,
# per setup and rate, acked bids/s, deliveries/s, delivery p50/p99 (auction-bench fanout) and the
# pub/sub messages each instance's Redis client received. Loopback only; every wait bounded.
# Results: .data/bench/sharded/*.json, .data/bench/sharded.md, and its section of BENCHMARKS.md
# (bench/sharded_section.py). Run: `make bench-sharded`.
set -euo pipefail
cd "$(dirname "$0")/.."

PORTS=("${BENCH_PORT_A:-3320}" "${BENCH_PORT_B:-3321}")
REDIS_PORT="${BENCH_REDIS_PORT:-6398}"
CLUSTER_PORT="${BENCH_CLUSTER_PORT:-7300}"
SOCKETS="${BENCH_SOCKETS:-1000}"
EMITTERS="${BENCH_EMITTERS:-10}"
SECONDS_PER_RATE="${BENCH_SECONDS:-10}"
RATES="${BENCH_RATES:-100 200}"
CONFIGURATION="${BENCH_CONFIGURATION:-release}"
SCRATCH="${BENCH_SCRATCH:-.build-bench}"
OUT=.data/bench/sharded
SERVER="$SCRATCH/$CONFIGURATION/socketio-bench-server"
BENCH="$SCRATCH/$CONFIGURATION/auction-bench"

rm -rf "$OUT"
mkdir -p "$OUT"
echo "== building $CONFIGURATION binaries"
swift build --scratch-path "$SCRATCH" -c "$CONFIGURATION" --product socketio-bench-server
swift build --scratch-path "$SCRATCH" -c "$CONFIGURATION" --product auction-bench
if [ "$(id -u)" = 0 ]; then ulimit -Hn 65536 2>/dev/null || true; fi
ulimit -Sn "$(ulimit -Hn)"

pids=()
cleanup() {
    for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
    for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" 2>/dev/null || true; done
    bash scripts/redis-cluster.sh stop "$OUT/cluster" >/dev/null 2>&1 || true
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

# run_setup NAME SERVER-ARGS...: two instances, each rate, then the instances' Redis counts.
rows=()
run_setup() {
    local name=$1
    shift
    local servers=() urls=() rate port
    for port in "${PORTS[@]}"; do
        "$SERVER" --host 127.0.0.1 --port "$port" "$@" >"$OUT/$name-server-$port.log" 2>&1 &
        servers+=($!)
        wait_port "$port"
        urls+=(--url "http://127.0.0.1:$port")
    done
    sleep 1
    for rate in $RATES; do
        echo "-- $name: $SOCKETS sockets over two instances, offered $rate bids/s"
        timeout $((SECONDS_PER_RATE + 180)) "$BENCH" fanout "${urls[@]}" --sockets "$SOCKETS" --emitters "$EMITTERS" \
            --rate "$rate" --duration "$SECONDS_PER_RATE" --room sharded --json "$OUT/$name-$rate.json"
    done
    for pid in "${servers[@]}"; do kill -TERM "$pid"; done
    for pid in "${servers[@]}"; do wait "$pid" 2>/dev/null || true; done
    local received=()
    for port in "${PORTS[@]}"; do
        received+=("$(sed -n 's/^redis: received \([0-9]*\) messages.*/\1/p' "$OUT/$name-server-$port.log" | tail -1)")
    done
    rows+=("$name|${received[0]:-?}|${received[1]:-?}")
}

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$OUT" >"$OUT/redis.log" 2>&1 &
pids+=($!)
wait_port "$REDIS_PORT"
run_setup classic --redis "redis://127.0.0.1:$REDIS_PORT" --adapter pubsub

seeds=$(bash scripts/redis-cluster.sh start "$OUT/cluster" "$CLUSTER_PORT")
run_setup sharded --redis-cluster "$seeds" --adapter sharded

{
    echo "# Sharded adapter on a Redis Cluster vs the classic adapter on one Redis"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "- machine: $(nproc) cores, $(uname -sr); build: $CONFIGURATION; Redis $(redis-server --version | awk '{print $3}')"
    echo "- two \`socketio-bench-server\` instances, $SOCKETS sockets split between them in one room, $EMITTERS emitters; load generator on the same machine"
    echo "- classic: \`--adapter pubsub --redis\` (one redis-server); sharded: \`--adapter sharded --redis-cluster\` (3 primaries + 3 replicas, dynamic mode)"
    echo
    for setup in classic sharded; do
        echo "## $setup"
        echo
        "$BENCH" report "$OUT/$setup"-*.json
        echo
    done
    echo "| setup | Redis messages received, instance A | instance B |"
    echo "|---|---:|---:|"
    for row in "${rows[@]}"; do IFS='|' read -r n a b <<<"$row"; echo "| $n | $a | $b |"; done
} >"$OUT/../sharded.md"
cat "$OUT/../sharded.md"
python3 bench/sharded_section.py "$OUT/../sharded.md" BENCHMARKS.md
