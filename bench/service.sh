#!/usr/bin/env bash
# Service benchmark: the auction service end to end (REST sign-in, Socket.IO tabs, bids decided in
# PostgreSQL and broadcast), then the same bid transaction run by pgbench straight against
# PostgreSQL, side by side. Run from anywhere: `make bench-service`.
#
# Builds release binaries into .build-bench (minutes the first time), starts a throwaway
# PostgreSQL and one `auction serve` (or two sharing a throwaway Redis) on free loopback ports,
# runs `auction-bench auction` once per scenario, stops the service, runs pgbench with
# bench/pgbench-bid.sql on a fresh database of the same schema, and writes
# .data/bench/$BENCH_NAME.md (plus $BENCH_NAME-*.json). Everything it started is stopped on exit.
# Loopback only; every wait is bounded. `make bench-herd` is this script with the closing-auction
# herd: two instances, 50 × 2 and 500 × 2 tabs, closed loop and 4,000 bids/s, pgbench with 1 and
# 8 clients.
#
# Environment: BENCH_USERS (8), BENCH_TABS (2), BENCH_SECONDS (20), BENCH_RATE (bids/s offered
# in total, default 8 per user; or "unlimited"), BENCH_SCENARIOS (space-separated
# USERSxTABS@RATE, default the one scenario of the three before), BENCH_INSTANCES (1 or 2),
# BENCH_PGBENCH_CLIENTS (8; a space-separated list runs pgbench flat out once per count),
# BENCH_NAME (service), BENCH_SECTION (a bench/*.py that writes the run's section of
# BENCHMARKS.md; bench-herd's is herd_section.py), BENCH_CONFIGURATION (release; debug only to smoke-test this script),
# BENCH_SCRATCH (.build-bench), PG_BIN (/usr/lib/postgresql/15/bin).
set -euo pipefail

cd "$(dirname "$0")/.."

USERS="${BENCH_USERS:-8}"
TABS="${BENCH_TABS:-2}"
DURATION="${BENCH_SECONDS:-20}"
# 8 bids/s per user: busy, yet under the service's per-user allowance (10/s), so no RATE_LIMITED.
RATE="${BENCH_RATE:-$((8 * USERS))}"
SCENARIOS="${BENCH_SCENARIOS:-${USERS}x${TABS}@${RATE}}"
INSTANCES="${BENCH_INSTANCES:-1}"
PGBENCH_CLIENTS="${BENCH_PGBENCH_CLIENTS:-8}"
NAME="${BENCH_NAME:-service}"
CONFIGURATION="${BENCH_CONFIGURATION:-release}"
# A scratch folder of its own, so a benchmark build never waits on (or evicts) the debug build.
SCRATCH="${BENCH_SCRATCH:-.build-bench}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
AUCTION="$SCRATCH/$CONFIGURATION/auction"
BENCH="$SCRATCH/$CONFIGURATION/auction-bench"
OUT=.data/bench
WORK="$OUT/$NAME"
PG_DIR="$WORK/postgres"

say() { printf '== %s\n' "$*"; }
die() { printf 'service.sh: %s\n' "$*" >&2; exit 1; }

for tool in "$PG_BIN/pgbench" "$PG_BIN/psql" "$PG_BIN/pg_ctl"; do
    [ -x "$tool" ] || die "$tool not found (install PostgreSQL 15: bash scripts/install-deps.sh, or set PG_BIN)"
done
case "$INSTANCES" in 1 | 2) ;; *) die "BENCH_INSTANCES is 1 or 2, not $INSTANCES" ;; esac
for scenario in $SCENARIOS; do
    [[ "$scenario" =~ ^[0-9]+x[0-9]+@([0-9]+|unlimited)$ ]] || die "scenario '$scenario' is not USERSxTABS@RATE (e.g. 500x2@4000 or 50x2@unlimited)"
done

mkdir -p "$OUT" "$WORK"
rm -f "$OUT/$NAME"-*.json "$OUT/$NAME.md" "$WORK"/pgbench_log.* "$WORK"/pgbench-*.txt

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

server_pids=()
stop_servers() {
    local pid
    # SIGTERM first (the service drains and closes its sessions); killed after 15 s.
    for pid in ${server_pids[@]+"${server_pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
    for pid in ${server_pids[@]+"${server_pids[@]}"}; do
        for _ in $(seq 1 150); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    server_pids=()
}

redis_started=""
cleanup() {
    stop_servers
    [ -z "$redis_started" ] || bash scripts/redis.sh stop "$WORK/redis" || true
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

redis_env=()
if [ "$INSTANCES" -gt 1 ]; then
    REDIS_PORT=$(free_port "${BENCH_REDIS_PORT:-56440}")
    say "starting Redis on 127.0.0.1:$REDIS_PORT ($WORK/redis)"
    redis_started=yes
    redis_env=(REDIS_URL="$(bash scripts/redis.sh start "$WORK/redis" "$REDIS_PORT")")
fi

JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
urls=()
next_port="${BENCH_PORT:-3400}"
for instance in $(seq 1 "$INSTANCES"); do
    port=$(free_port "$next_port")
    next_port=$((port + 1))
    url="http://127.0.0.1:$port"
    say "starting auction serve on $url"
    # Every tab of the benchmark comes from 127.0.0.1: the per-address connection cap is lifted.
    env DATABASE_URL="$DATABASE_URL" JWT_SECRET="$JWT_SECRET" HOST=127.0.0.1 PORT="$port" \
        MAX_CONNECTIONS_PER_ADDRESS=100000 ${redis_env[@]+"${redis_env[@]}"} \
        "$AUCTION" serve >"$WORK/serve-$instance.log" 2>&1 &
    server_pids+=($!)
    for i in $(seq 1 300); do
        if curl -fsS -m 2 "$url/readyz" >/dev/null 2>&1; then break; fi
        kill -0 "${server_pids[-1]}" 2>/dev/null || { cat "$WORK/serve-$instance.log" >&2; die "auction serve exited"; }
        [ "$i" -eq 300 ] && { tail -n 20 "$WORK/serve-$instance.log" >&2; die "auction serve not ready after 30 s"; }
        sleep 0.1
    done
    urls+=(--url "$url")
done

failures=()
results=()
auction_results=()

for scenario in $SCENARIOS; do
    users=${scenario%%x*}
    tabs=${scenario#*x}
    tabs=${tabs%@*}
    rate=${scenario#*@}
    # The service allows 10 logins per client address per minute; users log in from several
    # loopback addresses (4 each), so scenarios one after the other never wait for the limiter.
    login_sources=$(((users + 3) / 4))
    json="$OUT/$NAME-auction-${users}x${tabs}-$rate.json"
    say "auction-bench auction: $users users × $tabs tabs over $INSTANCES instance(s), ${DURATION} s, $rate bids/s"
    if timeout $((DURATION + 360)) "$BENCH" auction "${urls[@]}" --users "$users" --tabs "$tabs" --duration "$DURATION" \
        --rate "$rate" --login-sources "$login_sources" --json "$json"; then
        results+=("$json")
        auction_results+=("$json")
    else
        failures+=("auction-bench auction $scenario")
    fi
done
stop_servers

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

# run_pgbench NAME CLIENTS [RATE]: one pgbench run, flat out or scheduled at RATE transactions/s;
# writes $OUT/$NAME-pgbench-NAME.json for `auction-bench report`.
run_pgbench() {
    local name=$1 clients=$2 rate=${3:-} text="$WORK/pgbench-$1.txt" rate_args=() threads
    [ -n "$rate" ] && rate_args=(-R "$rate")
    threads=$(nproc 2>/dev/null || echo 1)
    [ "$threads" -gt "$clients" ] && threads=$clients
    rm -f "$WORK"/pgbench_log.*
    say "pgbench $name: $clients clients, ${DURATION} s${rate:+, scheduled at $rate/s}"
    if ! (cd "$WORK" && timeout $((DURATION + 60)) "$PG_BIN/pgbench" -n -c "$clients" -j "$threads" -T "$DURATION" \
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
    cat >"$OUT/$NAME-pgbench-$name.json" <<EOF
{"scenario": "pgbench", "script": "bench/pgbench-bid.sql", "clients": $clients, "durationSeconds": $DURATION,
 "targetRatePerSecond": ${rate:-null}, "transactions": ${transactions:-0}, "failedTransactions": ${failed:-0}, "tps": ${tps:-0},
 "latency": {"count": $count, "meanMs": $mean, "p50Ms": $p50, "p90Ms": $p90, "p99Ms": $p99, "maxMs": $max}}
EOF
    results+=("$OUT/$NAME-pgbench-$name.json")
}

# Flat out: what PostgreSQL alone allows on one hot auction, once per client count (one client is
# the rate of one writer committing one bid after another). Then, for a single scenario, at the
# service's accepted rate: the database's share of the service's latency at the same load.
for clients in $PGBENCH_CLIENTS; do
    if [ "$(wc -w <<<"$PGBENCH_CLIENTS")" -eq 1 ]; then run_pgbench max "$clients"; else run_pgbench "max-$clients" "$clients"; fi
done
accepted_rate=""
if [ ${#auction_results[@]} -eq 1 ]; then
    # Keys are sorted, so the first acceptedPerSecond is the run's (`bids`), not a timeline sample's.
    accepted_rate=$(sed -n 's/.*"acceptedPerSecond" *: *\([0-9.]*\).*/\1/p' "${auction_results[0]}" | head -n 1)
fi
if [ -n "$accepted_rate" ] && awk -v r="$accepted_rate" 'BEGIN { exit !(r > 0) }'; then
    run_pgbench paced "${PGBENCH_CLIENTS%% *}" "$accepted_rate"
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
    echo "- build: $CONFIGURATION; $INSTANCES \`auction serve\`$([ "$INSTANCES" -gt 1 ] && echo " sharing Redis $(redis-server --version | awk '{ print $3 }' | sed 's/v=//')"), PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }') (fsync off), load generator and pgbench on the same machine, loopback"
    echo "- service: \`auction-bench auction\`, scenarios (users × tabs @ bids/s offered) $SCENARIOS, ${DURATION} s each, tabs spread round-robin over the instances; open loop spread over all tabs, or closed loop (\`unlimited\`: each tab bids again as soon as it is answered); each bid at (price the tab knows + 1), so concurrent bids race and the losers get BID_TOO_LOW"
    echo "- database alone: \`pgbench -n -c {$PGBENCH_CLIENTS} -T $DURATION -f bench/pgbench-bid.sql\`, the service's accepted-bid transaction statement for statement (advisory lock, BEGIN, idempotency SELECT, SELECT … FOR UPDATE, UPDATE, INSERT, re-read, COMMIT, unlock), every transaction a winning bid; flat out at each client count (the ceiling for one auction; one client = one writer committing bid after bid) and, with a single scenario, once scheduled (\`-R\`) at the service's accepted rate (the database's share of the service's latency at that load)"
    echo "- the service's per-user limiter allows 10 bids/s per user (burst 10), judged by when each bid arrived: an open-loop scenario offers 8 per user per second, under it; a closed-loop one is bounded by it once answers come faster than 100 ms per tab"
    echo "- latencies: auction-bench uses one monotonic clock; ack = emit to ack, delivery = emit of an accepted bid to its \`bid\` event at each tab (bidder's own included); pgbench latency = one whole transaction"
    echo
    if [ ${#results[@]} -gt 0 ]; then "$BENCH" report "${results[@]}"; fi
    for failure in ${failures[@]+"${failures[@]}"}; do echo "- FAILED: $failure (see the log above)"; done
} >"$OUT/$NAME.md"

echo
cat "$OUT/$NAME.md"
say "written $OUT/$NAME.md"
if [ -n "${BENCH_SECTION:-}" ]; then
    python3 "bench/$BENCH_SECTION" "$OUT/$NAME.md" "$OUT" BENCHMARKS.md
    say "its section in BENCHMARKS.md is written (bench/$BENCH_SECTION)"
fi
[ ${#failures[@]} -eq 0 ]
