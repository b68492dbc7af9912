#!/usr/bin/env bash
# The picture in the README (docs/metrics.png): under a minute of load on a running
# `make run-observed`, then bench/plot_metrics.py draws the dashboard's key panels from
# Prometheus' HTTP API over the run.
#
#   make run-observed                 # in one terminal (SCRAPE_INTERVAL=2s for a finer picture)
#   bash bench/metrics-picture.sh     # in another
#
# The load, over both instances: 24 users × 2 tabs bidding 120 bids/s for 20 s (open loop), while
# REST reads, unknown items and refused handshakes (no token; a foreign Origin) go on beside it;
# then 12 users × 2 tabs bidding as fast as they are answered for 12 s (closed loop: the per-user
# allowance answers RATE_LIMITED). 15 s of idle before and after frame it. Loopback only; every
# loop is bounded.
#
# Environment: PROMETHEUS_URL (http://127.0.0.1:9090), INSTANCE_PORTS ("3000 3001"),
# BIN_DIR (.build/debug: the debug auction-bench), OUTPUT (docs/metrics.png), VENV_PY
# (.data/venv/bin/python; matplotlib is installed into it when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

PROMETHEUS_URL=${PROMETHEUS_URL:-http://127.0.0.1:9090}
INSTANCE_PORTS=${INSTANCE_PORTS:-3000 3001}
BIN_DIR=${BIN_DIR:-.build/debug}
OUTPUT=${OUTPUT:-docs/metrics.png}
VENV_PY=${VENV_PY:-.data/venv/bin/python}
BENCH="$BIN_DIR/auction-bench"

say() { printf '== %s\n' "$*"; }
die() { printf 'metrics-picture.sh: %s\n' "$*" >&2; exit 1; }

[ -x "$VENV_PY" ] || die "$VENV_PY missing: run \`make deps\` first"
[ -x "$BENCH" ] || die "$BENCH missing: swift build --product auction-bench"
curl -sf "$PROMETHEUS_URL/-/ready" >/dev/null || die "no Prometheus at $PROMETHEUS_URL: start \`make run-observed\` first"
urls=()
for port in $INSTANCE_PORTS; do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || die "no instance on 127.0.0.1:$port"
    urls+=(--url "http://127.0.0.1:$port")
done
if ! "$VENV_PY" -c 'import matplotlib' 2>/dev/null; then
    say "pip: matplotlib into $(dirname "$(dirname "$VENV_PY")") (for this plot only)"
    "$VENV_PY" -m pip install -q --disable-pip-version-check 'matplotlib==3.*'
fi
mkdir -p .data/bench

start=$(date +%s)
say "idle 15 s"
sleep 15

# REST reads, unknown items and refused handshakes beside the first phase: 200 rounds, 50 ms apart.
side_traffic() {
    local n port
    for n in $(seq 1 200); do
        for port in $INSTANCE_PORTS; do
            curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$port/items"
            [ $((n % 4)) -eq 0 ] && curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$port/items/999999999"
            [ $((n % 8)) -eq 0 ] && curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$port/socket.io/?EIO=4&transport=polling"
            [ $((n % 16)) -eq 0 ] && curl -s -o /dev/null --max-time 5 -H 'Origin: http://evil.example' \
                "http://127.0.0.1:$port/socket.io/?EIO=4&transport=polling"
        done
        sleep 0.05
    done
}
side_traffic &
side_pid=$!
trap 'kill "$side_pid" 2>/dev/null || true' EXIT

say "open loop: 24 users × 2 tabs, 120 bids/s, 20 s"
timeout 120 "$BENCH" auction "${urls[@]}" --users 24 --tabs 2 --rate 120 --duration 20 --drain 3 \
    --email-prefix picture --json .data/bench/metrics-picture-open.json
wait "$side_pid" || true
say "closed loop: 12 users × 2 tabs, unlimited, 12 s"
timeout 120 "$BENCH" auction "${urls[@]}" --users 12 --tabs 2 --rate unlimited --duration 12 --drain 3 \
    --email-prefix picture --json .data/bench/metrics-picture-closed.json
say "idle 15 s"
sleep 15
end=$(date +%s)

say "run from $start to $end (Unix time); to plot it again while Prometheus keeps the data:"
say "  $VENV_PY bench/plot_metrics.py --start $start --end $end --output $OUTPUT"
"$VENV_PY" bench/plot_metrics.py --prometheus "$PROMETHEUS_URL" --start "$start" --end "$end" --output "$OUTPUT"
