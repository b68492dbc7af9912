#!/usr/bin/env bash
# Runs the official compliance test suites against our server:
#   socket.io-protocol/test-suite  vs  socketio-compliance-server --port 3000
#   engine.io-protocol/test-suite  vs  socketio-compliance-server --port 3000 --engine-io
#
# The suites are not ours to vendor. Provide them as clones of the public repositories
# https://github.com/socketio/socket.io-protocol and https://github.com/socketio/engine.io-protocol
# in one folder, and name it with COMPLIANCE_SUITES_DIR:
#   $COMPLIANCE_SUITES_DIR/socket.io-protocol/test-suite/test-suite.js
#   $COMPLIANCE_SUITES_DIR/engine.io-protocol/test-suite/test-suite.js
# Each test-suite/ is copied into .data/compliance/<name>/ and its node-imports.js (npm
# packages) replaced by scripts/compliance/node-imports.js (built-in fetch, Debian's node-ws
# and chai). Without them the suites are skipped, with the reason, and counted as skipped.
#
# The last line is always `compliance: N passed, N failed, N skipped (…)`, where the counts
# are tests (mocha's passing / failing / pending) and a skipped suite counts as one skipped;
# the parenthesis names each suite with the commit that ran and says when a suite passed only
# on its second run. Exit status: non-zero when a suite fails, or when a suite that was found
# reports 0 passing tests.
#
# Environment: BIN_DIR (default .build/debug), COMPLIANCE_SUITES_DIR,
# SUITES (default "socket.io-protocol engine.io-protocol").
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

BIN_DIR="${BIN_DIR:-.build/debug}"
BIN="$BIN_DIR/socketio-compliance-server"
SUITES="${SUITES:-socket.io-protocol engine.io-protocol}"
WORK="$ROOT/.data/compliance"
PORT=3000 # the suites hard-code http://localhost:3000
NODE_DIR=/usr/share/nodejs

say() { printf 'compliance: %s\n' "$*"; }
die() { say "ERROR: $*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- locate the suites -------------------------------------------------------
# suite_commit DIR -> the commit checked out in DIR, or a note that it is not a git checkout
suite_commit() {
    git -C "$1" rev-parse --short=12 HEAD 2>/dev/null || echo "unknown commit (not a git checkout)"
}

# prepare_suite NAME -> prints the directory holding test-suite.js; status 2 with the reason on
# stderr when the suite is not provided, 1 when copying it failed
prepare_suite() {
    local name="$1" dest="$WORK/$1"
    if [ -z "${COMPLIANCE_SUITES_DIR:-}" ]; then
        echo "COMPLIANCE_SUITES_DIR is not set (see README, \"The compliance server\")" >&2
        return 2
    fi
    local src="$COMPLIANCE_SUITES_DIR/$name"
    if [ ! -f "$src/test-suite/test-suite.js" ]; then
        echo "no $src/test-suite/test-suite.js (expected a clone of https://github.com/socketio/$name)" >&2
        return 2
    fi
    rm -rf "$dest" && mkdir -p "$dest" || return 1
    cp -R "$src/test-suite" "$dest/" || return 1
    echo "$src at $(suite_commit "$src")" >"$dest/SOURCE"
    echo "$name@$(suite_commit "$src")" >"$dest/LABEL"
    cp scripts/compliance/node-imports.js "$dest/test-suite/node-imports.js" || return 1
    echo "$dest/test-suite"
}

[ -n "${SUITES// /}" ] || die "SUITES is empty"
mkdir -p "$WORK"
declare -A SUITE_DIR=()
skipped_suites=()
declare -A SKIP_WHY=()
for name in $SUITES; do
    case "$name" in socket.io-protocol | engine.io-protocol) ;; *) die "unknown suite $name" ;; esac
    if dir="$(prepare_suite "$name" 2>"$WORK.err")"; then
        SUITE_DIR[$name]="$dir"
        say "$name suite from $(cat "$WORK/$name/SOURCE")"
    else
        rc=$?
        [ "$rc" -eq 2 ] || die "could not copy the $name suite: $(cat "$WORK.err" 2>/dev/null)"
        say "SKIPPED $name: $(cat "$WORK.err")"
        skipped_suites+=("$name")
        SKIP_WHY[$name]="$(cat "$WORK.err")"
    fi
done
rm -f "$WORK.err"

# closing_line PASSED FAILED SKIPPED DETAILS -> the one line every run ends with
closing_line() {
    echo "compliance: $1 passed, $2 failed, $3 skipped ($4)"
}

if [ "${#SUITE_DIR[@]}" -eq 0 ]; then
    closing_line 0 0 "${#skipped_suites[@]}" "suites skipped: ${skipped_suites[*]}: ${SKIP_WHY[${skipped_suites[0]}]}"
    exit 0
fi

# --- prerequisites -------------------------------------------------------------
command -v node >/dev/null || die "node not found: run scripts/install-deps.sh"
command -v mocha >/dev/null || die "mocha not found: run scripts/install-deps.sh"
[ -d "$NODE_DIR/ws" ] || die "$NODE_DIR/ws missing (Debian package node-ws): run scripts/install-deps.sh"
[ -d "$NODE_DIR/chai" ] || die "$NODE_DIR/chai missing (Debian package chai/node-chai): run scripts/install-deps.sh"
[ -x "$BIN" ] || die "$BIN not found: build first (make build)"
if port_open "$PORT"; then
    die "port $PORT is already in use on 127.0.0.1; the suites need it (stop whatever listens there)"
fi

# Debian's node modules live in /usr/share/nodejs; this Node.js may not search there.
export NODE_PATH="$NODE_DIR:/usr/lib/nodejs${NODE_PATH:+:$NODE_PATH}"
# the suites use http://localhost:3000; our server binds 127.0.0.1 only
export NODE_OPTIONS="--dns-result-order=ipv4first${NODE_OPTIONS:+ $NODE_OPTIONS}"

SERVER_PID=""
stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    SERVER_PID=""
}
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

# run_suite NAME DIR -> sets RUN_PASS, RUN_FAIL, RUN_PENDING and RUN_WHY ("" when the run passed)
run_suite() {
    local name="$1" dir="$2"
    local log="$WORK/$name/server.log" out="$WORK/$name/mocha.out"
    local args=(--port "$PORT")
    [ "$name" = engine.io-protocol ] && args+=(--engine-io)
    RUN_PASS=0 RUN_FAIL=0 RUN_PENDING=0 RUN_WHY=""

    say "starting $BIN ${args[*]}"
    "$BIN" "${args[@]}" >"$log" 2>&1 &
    SERVER_PID=$!
    local waited=0
    until port_open "$PORT"; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            say "server exited before listening; its output:"
            sed 's/^/  | /' "$log"
            SERVER_PID=""
            RUN_FAIL=1 RUN_WHY="server did not start"
            return
        fi
        if [ "$waited" -ge 300 ]; then
            say "server did not open port $PORT within 30 s"
            stop_server
            RUN_FAIL=1 RUN_WHY="server did not start"
            return
        fi
        sleep 0.1
        waited=$((waited + 1))
    done

    say "running mocha $name/test-suite/test-suite.js"
    (cd "$dir" && timeout 600 mocha --require "$ROOT/scripts/compliance/mocha-symbols.cjs" \
        --exit --reporter spec test-suite.js) 2>&1 | tee "$out"
    local rc=${PIPESTATUS[0]}

    local alive=yes
    kill -0 "$SERVER_PID" 2>/dev/null || alive=no
    stop_server

    count() { grep -Eo "^ *[0-9]+ $1" "$out" | grep -Eo '[0-9]+' | tail -1; }
    RUN_PASS=$(count passing) RUN_FAIL=$(count failing) RUN_PENDING=$(count pending)
    RUN_PASS=${RUN_PASS:-0} RUN_FAIL=${RUN_FAIL:-0} RUN_PENDING=${RUN_PENDING:-0}
    if [ "$rc" -ne 0 ] && [ "$RUN_FAIL" -eq 0 ]; then
        RUN_FAIL=1 RUN_WHY="mocha exited $rc without reporting a failure (crash or timeout)"
    fi
    if [ "$alive" = no ]; then
        say "$name: the server process died during the suite; its output:"
        tail -n 50 "$log" | sed 's/^/  | /'
        [ "$RUN_FAIL" -gt 0 ] || RUN_FAIL=1
        RUN_WHY="the server died during the suite"
    fi
    [ "$RUN_FAIL" -eq 0 ] || [ -n "$RUN_WHY" ] || RUN_WHY="$RUN_FAIL failing"
    if [ "$RUN_FAIL" -eq 0 ] && [ "$RUN_PASS" -eq 0 ]; then
        # A suite that was found and ran must pass something: 0 passing means it did not run.
        RUN_FAIL=1 RUN_WHY="0 tests passed (the suite did not really run)"
    fi
    say "$name: $RUN_PASS passing, $RUN_FAIL failing, $RUN_PENDING pending (mocha exit $rc)"
    if [ -n "$RUN_WHY" ] && [ "$alive" = yes ]; then
        say "$name: server log tail ($log):"
        tail -n 30 "$log" | sed 's/^/  | /'
    fi
}

total_pass=0 total_fail=0 total_skip=${#skipped_suites[@]}
failed_suites=()
details=()
for name in $SUITES; do
    [ -n "${SUITE_DIR[$name]:-}" ] || { details+=("$name skipped: ${SKIP_WHY[$name]}"); continue; }
    label="$(cat "$WORK/$name/LABEL")"
    run_suite "$name" "${SUITE_DIR[$name]}"
    note=""
    if [ -n "$RUN_WHY" ]; then
        # Some tests of these suites (e.g. "closes the session upon ping timeout" over polling)
        # have no timing slack and fail now and then on a loaded machine, for the reference
        # server too. A failing suite runs once more; both attempts are in the log above, and
        # a pass on the second run is reported as such.
        first="$RUN_WHY"
        say "$name failed once ($first); running it again"
        run_suite "$name" "${SUITE_DIR[$name]}"
        note=", passed on the second run after: $first"
        [ -z "$RUN_WHY" ] || note=", failed twice: $first; then $RUN_WHY"
    fi
    total_pass=$((total_pass + RUN_PASS))
    total_fail=$((total_fail + RUN_FAIL))
    total_skip=$((total_skip + RUN_PENDING))
    [ -z "$RUN_WHY" ] || failed_suites+=("$name")
    details+=("$label: $RUN_PASS passed, $RUN_FAIL failed, $RUN_PENDING pending$note")
done

[ "${#failed_suites[@]}" -eq 0 ] || say "FAILED suites: ${failed_suites[*]}"
joined="" sep=""
for part in "${details[@]}"; do joined+="$sep$part" sep="; "; done
closing_line "$total_pass" "$total_fail" "$total_skip" "$joined"
[ "${#failed_suites[@]}" -eq 0 ]
