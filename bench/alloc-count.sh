#!/usr/bin/env bash
# `make bench-count`: heap allocations and socket writes the server makes per delivered message,
# counted exactly (bench/alloc-count/alloc_count.c, loaded with LD_PRELOAD) — the regression guard
# of the fan-out path that holds still on a busy machine, where CPU time does not. (Instruction
# counts under valgrind's callgrind would be the finer guard, but Debian 12's valgrind 3.19 never
# runs a Swift concurrency task: see BENCHMARKS.md.) The scenario is small and fixed: SOCKETS
# WebSocket clients in one room, EMITTERS of them emitting acknowledged bids at RATE per second,
# the server (release build) acking each and broadcasting it to the room. It runs twice, for
# SHORT and LONG seconds of emission, each on a fresh server; the difference of the two totals over
# the difference of their deliveries is the cost of one more delivery, with startup, connecting
# and shutdown cancelled out. Results: .data/bench/count/ (fanout JSON, counts, count.md).
set -euo pipefail
cd "$(dirname "$0")/.."

CONFIGURATION="${BENCH_CONFIGURATION:-release}"
SCRATCH="${BENCH_SCRATCH:-.build-bench}"
OUT="${BENCH_OUT:-.data/bench/count}"
SOCKETS="${BENCH_SOCKETS:-50}"
EMITTERS="${BENCH_EMITTERS:-5}"
RATE="${BENCH_RATE:-50}"
SHORT="${BENCH_SHORT_SECONDS:-4}"
LONG="${BENCH_LONG_SECONDS:-12}"
PORT="${BENCH_PORT:-3420}"
# Extra server flags (e.g. --per-message-deflate) and fanout flags (e.g. --payload-bytes 2048 --per-message-deflate).
SERVER_ARGS="${BENCH_SERVER_ARGS:-}"
FANOUT_ARGS="${BENCH_FANOUT_ARGS:-}"
SERVER="${BENCH_SERVER:-$SCRATCH/$CONFIGURATION/socketio-bench-server}"
BENCH="$SCRATCH/$CONFIGURATION/auction-bench"

say() { printf '== %s\n' "$*"; }

command -v cc >/dev/null || { echo "a C compiler (cc) is needed for the counting shim" >&2; exit 1; }
say "building $CONFIGURATION binaries in $SCRATCH (nothing to do when they are current)"
swift build --scratch-path "$SCRATCH" -c "$CONFIGURATION" --product socketio-bench-server
swift build --scratch-path "$SCRATCH" -c "$CONFIGURATION" --product auction-bench
mkdir -p "$OUT"
rm -f "$OUT"/counts-* "$OUT"/fanout-*.json
cc -O2 -shared -fPIC -o "$OUT/alloc_count.so" bench/alloc-count/alloc_count.c -ldl

server_pid=""
stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        # The counts are written at exit: wait for a graceful one.
        for _ in $(seq 1 200); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$server_pid" 2>/dev/null || true
    fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}
trap stop_server EXIT INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

# run NAME SECONDS: one counted server, one fanout; prints "allocations writes deliveries".
run() {
    local name="$1" seconds="$2"
    if port_open; then echo "port $PORT is already in use; set BENCH_PORT to a free port" >&2; exit 1; fi
    # shellcheck disable=SC2086
    ALLOC_COUNT_FILE="$OUT/counts-$name" LD_PRELOAD="$(cd "$OUT" && pwd)/alloc_count.so" \
        "$SERVER" --host 127.0.0.1 --port "$PORT" $SERVER_ARGS >"$OUT/server-$name.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        port_open && break
        kill -0 "$server_pid" 2>/dev/null || { echo "server exited; log:" >&2; cat "$OUT/server-$name.log" >&2; exit 1; }
        sleep 0.1
    done
    port_open || { echo "server did not listen within 10 s" >&2; exit 1; }
    # shellcheck disable=SC2086
    timeout $((seconds + 120)) "$BENCH" fanout --url "http://127.0.0.1:$PORT" --sockets "$SOCKETS" \
        --emitters "$EMITTERS" --rate "$RATE" --duration "$seconds" --drain 10 \
        --room count $FANOUT_ARGS --json "$OUT/fanout-$name.json" >"$OUT/fanout-$name.log" 2>&1 \
        || { echo "fanout ($name) failed; log:" >&2; cat "$OUT/fanout-$name.log" >&2; exit 1; }
    stop_server
    [ -s "$OUT/counts-$name" ] || { echo "the server wrote no counts (did it exit gracefully?)" >&2; exit 1; }
    local allocations writes deliveries
    allocations=$(awk '$1 == "allocations" { print $2 }' "$OUT/counts-$name")
    writes=$(awk '$1 == "writes" { print $2 }' "$OUT/counts-$name")
    deliveries=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["traffic"]; print(t["delivered"]) if t["missingDeliveries"] == 0 and t["unacked"] == 0 else sys.exit("incomplete run: %d missing, %d unacked" % (t["missingDeliveries"], t["unacked"]))' "$OUT/fanout-$name.json")
    echo "$allocations $writes $deliveries"
}

say "short run: $SOCKETS sockets, $EMITTERS emitters, $RATE bids/s for $SHORT s${SERVER_ARGS:+, server $SERVER_ARGS}${FANOUT_ARGS:+, clients $FANOUT_ARGS}"
read -r short_allocations short_writes short_deliveries < <(run short "$SHORT")
say "  $short_allocations allocations, $short_writes writes, $short_deliveries deliveries"
say "long run: the same for $LONG s"
read -r long_allocations long_writes long_deliveries < <(run long "$LONG")
say "  $long_allocations allocations, $long_writes writes, $long_deliveries deliveries"

commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain -- Sources Package.swift 2>/dev/null)" ]; then commit="$commit (uncommitted changes)"; fi
python3 - "$short_allocations" "$short_writes" "$short_deliveries" "$long_allocations" "$long_writes" "$long_deliveries" \
    "$commit" "$SOCKETS" "$EMITTERS" "$RATE" "$SHORT" "$LONG" "$SERVER_ARGS" "$FANOUT_ARGS" >"$OUT/count.md" <<'PY'
import sys
short_a, short_w, short_n, long_a, long_w, long_n = map(int, sys.argv[1:7])
commit, sockets, emitters, rate, short, long, server_args, fanout_args = sys.argv[7:15]
if long_n <= short_n:
    sys.exit(f"the long run delivered {long_n}, not more than the short run's {short_n}")
deliveries = long_n - short_n
extra = "".join([f", server `{server_args}`" if server_args else "", f", clients `{fanout_args}`" if fanout_args else ""])
print(f"count: {(long_a - short_a) / deliveries:.2f} allocations and {(long_w - short_w) / deliveries:.3f} socket writes per delivery "
      f"(commit {commit}; {sockets} sockets, {emitters} emitters, {rate} bids/s, runs of {short} s and {long} s{extra}; "
      f"totals {short_a:,} / {short_w:,} / {short_n:,} and {long_a:,} / {long_w:,} / {long_n:,} allocations / writes / deliveries)")
PY
cat "$OUT/count.md"
