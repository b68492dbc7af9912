#!/usr/bin/env bash
# Streams-adapter benchmark: two socketio-bench-server instances sharing one throwaway
# redis-server (loopback, no persistence), one run, per setup (pubsub; streams; streams with
# --recovery):
# (1) fan-out: S sockets split over both instances in one room, E emitters, each rate
#     (auction-bench fanout, as bench/sharded.sh): acked bids/s, deliveries/s, delivery p50/p99;
# (2) catch-up after losing Redis (bench/redis_outage.py, python-socketio), a steady bid rate
#     from both instances: (a) redis-server SIGKILLed and started again, empty, on the same port
#     and dir after BENCH_OUTAGE_DOWN s; (b) instance B alone cut off from Redis as long (its
#     connections go through a relay that resets and refuses them), Redis and A going on. How
#     long after Redis is back deliveries cross instances again, and how many (socket, bid)
#     deliveries were lost, by when the bid was emitted.
# Every wait bounded. Results: .data/bench/streams/*.json, .data/bench/streams.md, and its section
# of BENCHMARKS.md (bench/streams_section.py). Run: `make bench-streams`.
set -euo pipefail
cd "$(dirname "$0")/.."

PORTS=("${BENCH_PORT_A:-3324}" "${BENCH_PORT_B:-3325}")
REDIS_PORT="${BENCH_REDIS_PORT:-6397}"
RELAY_PORT="${BENCH_RELAY_PORT:-6396}"  # instance B's way to Redis in the cut
SOCKETS="${BENCH_SOCKETS:-1000}"
EMITTERS="${BENCH_EMITTERS:-10}"
SECONDS_PER_RATE="${BENCH_SECONDS:-10}"
RATES="${BENCH_RATES:-100 200}"
SETUPS="${BENCH_SETUPS:-pubsub streams streams-recovery}"
OUTAGE_SOCKETS="${BENCH_OUTAGE_SOCKETS:-20}"     # per instance
OUTAGE_RATE="${BENCH_OUTAGE_RATE:-40}"
OUTAGE_DOWN="${BENCH_OUTAGE_DOWN:-3}"
CONFIGURATION="${BENCH_CONFIGURATION:-release}"
SCRATCH="${BENCH_SCRATCH:-.build-bench}"
OUT=.data/bench/streams
SERVER="$SCRATCH/$CONFIGURATION/socketio-bench-server"
BENCH="$SCRATCH/$CONFIGURATION/auction-bench"
PYTHON=.data/venv/bin/python
STREAM=socket.io  # the streams adapter's default key (Node's)

[ -x "$PYTHON" ] || { echo "no $PYTHON: run make deps" >&2; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT"
echo "== building $CONFIGURATION binaries"
swift build --scratch-path "$SCRATCH" -c "$CONFIGURATION" --product socketio-bench-server
swift build --scratch-path "$SCRATCH" -c "$CONFIGURATION" --product auction-bench
if [ "$(id -u)" = 0 ]; then ulimit -Hn 65536 2>/dev/null || true; fi
ulimit -Sn "$(ulimit -Hn)"

servers=()
relay=""
stop_servers() {
    for pid in ${servers[@]+"${servers[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in ${servers[@]+"${servers[@]}"}; do wait "$pid" 2>/dev/null || true; done
    servers=()
}
stop_relay() {
    [ -z "$relay" ] || { kill -TERM "$relay" 2>/dev/null || true; wait "$relay" 2>/dev/null || true; }
    relay=""
}
cleanup() {
    stop_servers
    stop_relay
    bash scripts/redis.sh stop "$OUT/redis" >/dev/null 2>&1 || true
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

setup_args() {
    case $1 in
        pubsub) echo "--adapter pubsub" ;;
        streams) echo "--adapter streams" ;;
        streams-recovery) echo "--adapter streams --recovery" ;;
        *) echo "unknown setup $1" >&2; exit 2 ;;
    esac
}

# start_servers LOG-PREFIX SETUP [B'S-REDIS-PORT]: both instances on an emptied Redis.
urls=()
start_servers() {
    local prefix=$1 setup=$2 port
    local redis_ports=("$REDIS_PORT" "${3:-$REDIS_PORT}") i
    timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" flushall >/dev/null
    urls=()
    for i in 0 1; do
        port=${PORTS[$i]}
        # shellcheck disable=SC2046 # the setup's arguments are words
        "$SERVER" --host 127.0.0.1 --port "$port" --redis "redis://127.0.0.1:${redis_ports[$i]}" $(setup_args "$setup") \
            >"$OUT/$prefix-$setup-server-$port.log" 2>&1 &
        servers+=($!)
        wait_port "$port"
        urls+=(--url "http://127.0.0.1:$port")
    done
    sleep 1
}

bash scripts/redis.sh start "$OUT/redis" "$REDIS_PORT" >/dev/null

for setup in $SETUPS; do
    start_servers fanout "$setup"
    for rate in $RATES; do
        echo "-- fan-out, $setup: $SOCKETS sockets over two instances, offered $rate bids/s"
        timeout $((SECONDS_PER_RATE + 180)) "$BENCH" fanout "${urls[@]}" --sockets "$SOCKETS" --emitters "$EMITTERS" \
            --rate "$rate" --duration "$SECONDS_PER_RATE" --room streams --json "$OUT/fanout-$setup-$rate.json"
    done
    stop_servers
done

# The outages, each setup on a Redis that is running and empty. kill: the driver SIGKILLs
# redis-server and starts it again; cut: B reaches Redis through the driver's relay, which it cuts.
refused=()
for disruption in kill cut; do
    for setup in $SETUPS; do
        bash scripts/redis.sh start "$OUT/redis" "$REDIS_PORT" >/dev/null
        how=(--redis-dir "$OUT/redis")
        if [ "$disruption" = cut ]; then
            "$PYTHON" bench/redis_outage.py proxy --listen "$RELAY_PORT" --to "$REDIS_PORT" &
            relay=$!
            wait_port "$RELAY_PORT"
            how=(--proxy-pid "$relay")
            start_servers "$disruption" "$setup" "$RELAY_PORT"
        else
            start_servers "$disruption" "$setup"
        fi
        echo "-- $disruption, $setup: $OUTAGE_SOCKETS sockets on each instance, $OUTAGE_RATE bids/s, Redis away ${OUTAGE_DOWN} s"
        stream=()
        [ "$setup" = pubsub ] || stream=(--stream "$STREAM")
        timeout 150 "$PYTHON" bench/redis_outage.py run --setup "$setup" --disruption "$disruption" "${urls[@]}" "${how[@]}" \
            --redis-port "$REDIS_PORT" --sockets-per-instance "$OUTAGE_SOCKETS" --rate "$OUTAGE_RATE" --down "$OUTAGE_DOWN" \
            ${stream[@]+"${stream[@]}"} --json "$OUT/$disruption-$setup.json"
        stop_servers
        stop_relay
        # What each instance logged about appends refused (only the streams adapter logs them: the
        # classic adapter's plain broadcast drops a failed PUBLISH silently).
        counts=()
        for port in "${PORTS[@]}"; do
            counts+=("$(grep -c 'broadcast not appended' "$OUT/$disruption-$setup-server-$port.log" || true)")
        done
        refused+=("$disruption|$setup|${counts[0]}|${counts[1]}")
    done
done

{
    echo "# Redis Streams adapter vs the classic adapter, and catch-up after a Redis outage"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "- machine: $(nproc) cores, $(uname -sr); build: $CONFIGURATION; Redis $(redis-server --version | awk '{print $3}')"
    echo "- two \`socketio-bench-server\` instances on one redis-server (no persistence); load generators on the same machine"
    echo "- pubsub: \`--adapter pubsub\`; streams: \`--adapter streams\` (XADD to \`$STREAM\`, XREAD BLOCK from the last entry id); streams-recovery: the same with \`--recovery\`"
    echo
    echo "## Fan-out: $SOCKETS sockets split between the instances in one room, $EMITTERS emitters; every bid acked to its sender and broadcast to every socket"
    echo
    for setup in $SETUPS; do
        echo "### $setup"
        echo
        "$BENCH" report "$OUT/fanout-$setup"-[0-9]*.json | sed '/^### Fanout/,/^$/d'
        echo
    done
    for disruption in kill cut; do
        if [ "$disruption" = kill ]; then
            echo "## Catch-up after redis-server is SIGKILLed for ${OUTAGE_DOWN} s"
        else
            echo "## Catch-up after instance B is cut off from Redis for ${OUTAGE_DOWN} s"
        fi
        echo
        files=()
        for setup in $SETUPS; do files+=("$OUT/$disruption-$setup.json"); done
        "$PYTHON" bench/redis_outage.py report "${files[@]}"
        echo
    done
    echo "| outage | setup | \"broadcast not appended\" logged, instance A | instance B |"
    echo "|---|---|---:|---:|"
    for row in "${refused[@]}"; do IFS='|' read -r d n a b <<<"$row"; echo "| $d | $n | $a | $b |"; done
} >"$OUT/../streams.md"
cat "$OUT/../streams.md"
python3 bench/streams_section.py "$OUT/../streams.md" BENCHMARKS.md
