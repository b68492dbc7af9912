#!/usr/bin/env bash
# Service benchmark: the auction service end to end (REST sign-in, Socket.IO tabs, bids decided in
# PostgreSQL and broadcast), then the same bid transaction run by pgbench straight against
# PostgreSQL, side by side. Run from anywhere: `make bench-service`.
#
# Builds release binaries into .build-bench (minutes the first time), starts a throwaway
# PostgreSQL and one `auction serve` on free loopback ports, runs `auction-bench auction`, stops
# the service, runs pgbench with bench/pgbench-bid.sql on a fresh database of the same schema,
# and writes .data/bench/service.md (plus service-*.json). Everything it started is stopped on
# exit. Loopback only; every wait is bounded.
#
# Environment: BENCH_USERS (8), BENCH_TABS (2), BENCH_SECONDS (20), BENCH_RATE (bids/s offered
# in total, default 8 per user; or "unlimited"), BENCH_PGBENCH_CLIENTS (8),
# BENCH_CONFIGURATION (release; debug only to smoke-test this script), BENCH_SCRATCH (.build-bench),
# PG_BIN (/usr/lib/postgresql/15/bin).
set -euo pipefail

cd "$(dirname "$0")/.."

USERS="${BENCH_USERS:-8}"
TABS="${BENCH_TABS:-2}"
DURATION="${BENCH_SECONDS:-20}"
# 8 bids/s per user: busy, yet under the service's per-user allowance (10/s), so no RATE_LIMITED.
RATE="${BENCH_RATE:-$((8 * USERS))}"
PGBENCH_CLIENTS="${BENCH_PGBENCH_CLIENTS:-8}"
CONFIGURATION="${BENCH_CONFIGURATION:-release}"
# A scratch folder of its own, so a benchmark build never waits on (or evicts) the debug build.
SCRATCH="${BENCH_SCRATCH:-.build-bench}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
AUCTION="$SCRATCH/$CONFIGURATION/auction"
BENCH="$SCRATCH/$CONFIGURATION/auction-bench"
OUT=.data/bench
WORK="$OUT/service"
PG_DIR="$WORK/postgres"

say() { printf '== %s\n' "$*"; }
die() { printf 'service.sh: %s\n' "$*" >&2; exit 1; }

for tool in "$PG_BIN/pgbench" "$PG_BIN/psql" "$PG_BIN/pg_ctl"; do
    [ -x "$tool" ] || die "$tool not found (install PostgreSQL 15: bash scripts/install-deps.sh, or set PG_BIN)"
done

mkdir -p "$OUT" "$WORK"
rm -f "$OUT"/service-*.json "$OUT/service.md" "$WORK"/pgbench_log.* "$WORK"/pgbench-*.txt

say "building $CONFIGURATION binaries into $SCRATCH"
# One product per invocation: `--product` names a single product.
swift build --scratch-path "$SCRATCH" -c "$CONFIGURATION" --product auction
swift build --scratch-path "$SCRATCH" -c "$CONFIGURATION" --product auction-bench

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The first port from $1 on that nothing listens on.
free_port() {
    local port
    for port in $(seq "$1" $(($1 + 500))); do
        if ! port_in_use "$port"; then echo "$port"; return 0; fi
    done
    die "no free port in $1…$(($1 + 500))"
}

# PostgreSQL: scripts/postgres.sh when the repository has it, else a cluster of our own.
pg_started=""
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
    local port=$1
    if [ -f scripts/postgres.sh ]; then
        bash scripts/postgres.sh start "$PG_DIR" "$port"
        return
    fi
    mkdir -p "$PG_DIR/data" "$PG_DIR/run"
    [ "$(id -u)" -eq 0 ] && chown -R postgres "$PG_DIR"
    chmod 700 "$PG_DIR/data"
    as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -E UTF8 --auth-local=trust --auth-host=reject \
        >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
    printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$PG_DIR/data/pg_hba.conf"
    printf "listen_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nfsync = off\n" "$PWD/$PG_DIR/run" \
        >>"$PG_DIR/data/postgresql.conf"
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -o "-p $port" -w -t 30 start >/dev/null \
        || { tail -n 20 "$PG_DIR/postgres.log" >&2; exit 1; }
    "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c 'CREATE DATABASE auction' >/dev/null
    echo "postgres://postgres:postgres@127.0.0.1:$port/auction"
}

pg_stop() {
    [ -n "$pg_started" ] || return 0
    if [ -f scripts/postgres.sh ]; then
        bash scripts/postgres.sh stop "$PG_DIR" || true
    elif [ -f "$PG_DIR/data/postmaster.pid" ]; then
        as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null || true
    fi
    pg_started=""
}

server_pid=""
stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        # SIGTERM first (the service drains and closes its sessions); killed after 15 s.
        for _ in $(seq 1 150); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}

cleanup() {
    stop_server
    pg_stop
    # The cluster is throwaway; its log stays for a look after a failed run.
    rm -rf "$PG_DIR/data" "$WORK"/pgbench_log.*
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A fresh cluster each run: a leftover one is stopped and removed.
if [ -d "$PG_DIR" ]; then
    pg_started=yes
    pg_stop
    rm -rf "$PG_DIR"
fi
PG_PORT=$(free_port "${BENCH_PG_PORT:-55440}")
say "starting PostgreSQL on 127.0.0.1:$PG_PORT ($PG_DIR)"
pg_started=yes
DATABASE_URL=$(pg_start "$PG_PORT")
PSQL=(env PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres)

say "migrating"
DATABASE_URL="$DATABASE_URL" timeout 60 "$AUCTION" migrate

SERVICE_PORT=$(free_port "${BENCH_PORT:-3400}")
URL="http://127.0.0.1:$SERVICE_PORT"
JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
say "starting auction serve on $URL"
DATABASE_URL="$DATABASE_URL" JWT_SECRET="$JWT_SECRET" HOST=127.0.0.1 PORT="$SERVICE_PORT" \
    "$AUCTION" serve >"$WORK/serve.log" 2>&1 &
server_pid=$!
for i in $(seq 1 300); do
    if curl -fsS -m 2 "$URL/readyz" >/dev/null 2>&1; then break; fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$WORK/serve.log" >&2; die "auction serve exited"; }
    [ "$i" -eq 300 ] && { tail -n 20 "$WORK/serve.log" >&2; die "auction serve not ready after 30 s"; }
    sleep 0.1
done

failures=()
results=()

# The service allows 10 logins per client address per minute; more users log in from more
# loopback addresses instead of waiting.
login_sources=$(((USERS + 9) / 10))
say "auction-bench auction: $USERS users × $TABS tabs, ${DURATION} s"
if timeout $((DURATION + 240)) "$BENCH" auction --url "$URL" --users "$USERS" --tabs "$TABS" --duration "$DURATION" \
    --rate "$RATE" --login-sources "$login_sources" --json "$OUT/service-auction.json"; then
    results+=("$OUT/service-auction.json")
else
    failures+=("auction-bench auction")
fi
stop_server

# pgbench on a fresh database of the same schema: 8 users and one open auction.
"${PSQL[@]}" -d postgres -c 'CREATE DATABASE auction_pgbench' >/dev/null
PGBENCH_URL="${DATABASE_URL%/*}/auction_pgbench"
DATABASE_URL="$PGBENCH_URL" timeout 60 "$AUCTION" migrate >/dev/null
seed=$("${PSQL[@]}" -d auction_pgbench -tA <<'EOF'
INSERT INTO users (email, name, password_hash)
SELECT 'pgbench-' || n || '@example.com', 'Bench ' || n, 'not-a-hash' FROM generate_series(0, 7) AS n;
WITH item AS (
    INSERT INTO items (seller_id, title, description, starting_price, min_increment, current_price, ends_at)
    SELECT min(id), 'pgbench auction', '', 100, 1, 100, now() + interval '1 hour' FROM users
    RETURNING id
)
INSERT INTO rooms (id, item_id) SELECT 'item:' || id, id FROM item;
SELECT (SELECT id FROM items) || ' ' || (SELECT min(id) FROM users);
EOF
)
read -r ITEM FIRST_USER <<<"$seed"
script="$PWD/bench/pgbench-bid.sql"
threads=$(nproc 2>/dev/null || echo 1)
[ "$threads" -gt "$PGBENCH_CLIENTS" ] && threads=$PGBENCH_CLIENTS

# run_pgbench NAME [RATE]: one pgbench run, flat out or scheduled at RATE transactions/s;
# writes $OUT/service-pgbench-NAME.json for `auction-bench report`.
run_pgbench() {
    local name=$1 rate=${2:-} text="$WORK/pgbench-$1.txt" rate_args=()
    [ -n "$rate" ] && rate_args=(-R "$rate")
    rm -f "$WORK"/pgbench_log.*
    say "pgbench $name: $PGBENCH_CLIENTS clients, ${DURATION} s${rate:+, scheduled at $rate/s}"
    if ! (cd "$WORK" && timeout $((DURATION + 60)) "$PG_BIN/pgbench" -n -c "$PGBENCH_CLIENTS" -j "$threads" -T "$DURATION" \
        ${rate_args[@]+"${rate_args[@]}"} -f "$script" -D item="$ITEM" -D first_user="$FIRST_USER" -D users=8 \
        -l --log-prefix=pgbench_log -h 127.0.0.1 -p "$PG_PORT" -U postgres auction_pgbench) >"$text" 2>&1; then
        cat "$text" >&2
        failures+=("pgbench $name")
        return 0
    fi
    cat "$text"
    local tps transactions failed latency count mean p50 p90 p99 max
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' "$text")
    transactions=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$text")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$text")
    # Per-transaction log: client, transaction, latency in µs, … (pgbench docs, "Per-Transaction
    # Logging"); with -R the latency counts from the scheduled start, lag included.
    latency=$({ cat "$WORK"/pgbench_log.* 2>/dev/null || true; } | awk '{ print $3 }' | sort -n | awk '
        { v[NR] = $1; sum += $1 }
        function at(p,  r) { r = int(p / 100 * NR); if (r < p / 100 * NR) r++; if (r < 1) r = 1; return v[r] / 1000 }
        END { if (NR == 0) { print "0 0 0 0 0 0"; exit }
              printf "%d %.3f %.3f %.3f %.3f %.3f\n", NR, sum / NR / 1000, at(50), at(90), at(99), v[NR] / 1000 }')
    read -r count mean p50 p90 p99 max <<<"$latency"
    cat >"$OUT/service-pgbench-$name.json" <<EOF
{"scenario": "pgbench", "script": "bench/pgbench-bid.sql", "clients": $PGBENCH_CLIENTS, "durationSeconds": $DURATION,
 "targetRatePerSecond": ${rate:-null}, "transactions": ${transactions:-0}, "failedTransactions": ${failed:-0}, "tps": ${tps:-0},
 "latency": {"count": $count, "meanMs": $mean, "p50Ms": $p50, "p90Ms": $p90, "p99Ms": $p99, "maxMs": $max}}
EOF
    results+=("$OUT/service-pgbench-$name.json")
}

# Flat out: what PostgreSQL alone allows on one hot auction. Then at the service's accepted rate:
# the database's share of the service's latency at the same load.
run_pgbench max
accepted_rate=""
if [ -f "$OUT/service-auction.json" ]; then
    # Keys are sorted, so the first acceptedPerSecond is the run's (`bids`), not a timeline sample's.
    accepted_rate=$(sed -n 's/.*"acceptedPerSecond" *: *\([0-9.]*\).*/\1/p' "$OUT/service-auction.json" | head -n 1)
fi
if [ -n "$accepted_rate" ] && awk -v r="$accepted_rate" 'BEGIN { exit !(r > 0) }'; then
    run_pgbench paced "$accepted_rate"
fi
check=$("${PSQL[@]}" -d auction_pgbench -tA -c \
    "SELECT count(*) = count(DISTINCT price) AND max(price) - min(price) + 1 = count(*) FROM bids WHERE item_id = $ITEM")
[ "$check" = t ] || failures+=("pgbench bids are not one per price (check bench/pgbench-bid.sql)")

commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then commit="$commit (uncommitted changes)"; fi
{
    echo "# Service benchmark"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $commit"
    echo "- machine: $(nproc) cores, $(uname -sr), $(swift --version 2>/dev/null | head -n 1)"
    echo "- build: $CONFIGURATION; one \`auction serve\`, PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }') (fsync off), load generator and pgbench on the same machine, loopback"
    echo "- service: \`auction-bench auction\`, $USERS users × $TABS tabs, ${DURATION} s, $RATE bids/s offered (open loop, spread over all tabs), each bid at (price the tab knows + 1), so concurrent bids race and the losers get BID_TOO_LOW"
    echo "- database alone: \`pgbench -n -c $PGBENCH_CLIENTS -T $DURATION -f bench/pgbench-bid.sql\`, the service's accepted-bid transaction statement for statement (advisory lock, BEGIN, idempotency SELECT, SELECT … FOR UPDATE, UPDATE, INSERT, re-read, COMMIT, unlock), every transaction a winning bid; once flat out (the ceiling for one auction) and once scheduled (\`-R\`) at the service's accepted rate (the database's share of the service's latency at that load)"
    echo "- the service's own ceiling is not reached by default: its per-user limiter allows 10 bids/s per user, so 8 users offer at most 80/s; raise BENCH_USERS (and BENCH_RATE) to push it"
    echo "- latencies: auction-bench uses one monotonic clock; ack = emit to ack, delivery = emit of an accepted bid to its \`bid\` event at each tab (bidder's own included); pgbench latency = one whole transaction"
    echo
    if [ ${#results[@]} -gt 0 ]; then "$BENCH" report "${results[@]}"; fi
    for failure in ${failures[@]+"${failures[@]}"}; do echo "- FAILED: $failure (see the log above)"; done
} >"$OUT/service.md"

echo
cat "$OUT/service.md"
say "written $OUT/service.md"
[ ${#failures[@]} -eq 0 ]
