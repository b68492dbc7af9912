#!/usr/bin/env bash
# Runs the official compliance test suites against our server:
#   socket.io-protocol/test-suite  vs  socketio-compliance-server --port 3000
#   engine.io-protocol/test-suite  vs  socketio-compliance-server --port 3000 --engine-io
#
# The suites are not vendored. They come from $COMPLIANCE_SUITES_DIR/<name>/test-suite
# (checkouts of socketio/socket.io-protocol and socketio/engine.io-protocol) or from
# the local bare mirrors /work/.mirror/socketio+<name>/repo, copied or extracted into
# .data/compliance/<name>/. Their node-imports.js (npm packages) is replaced by
# scripts/compliance/node-imports.js (built-in fetch, Debian's node-ws and chai).
#
# Environment: BIN_DIR (default .build/debug), COMPLIANCE_SUITES_DIR, MIRROR_DIR
# (default /work/.mirror), SUITES (default "socket.io-protocol engine.io-protocol").
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

BIN_DIR="${BIN_DIR:-.build/debug}"
BIN="$BIN_DIR/socketio-compliance-server"
MIRROR_DIR="${MIRROR_DIR:-/work/.mirror}"
SUITES="${SUITES:-socket.io-protocol engine.io-protocol}"
WORK="$ROOT/.data/compliance"
PORT=3000 # the suites hard-code http://localhost:3000
NODE_DIR=/usr/share/nodejs

say() { printf 'compliance: %s\n' "$*"; }
die() { say "ERROR: $*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- locate the suites -------------------------------------------------------
# prepare_suite NAME -> prints the directory holding test-suite.js, or fails with a reason on stderr
prepare_suite() {
    local name="$1" dest="$WORK/$1"
    if [ -n "${COMPLIANCE_SUITES_DIR:-}" ] && [ -f "$COMPLIANCE_SUITES_DIR/$name/test-suite/test-suite.js" ]; then
        rm -rf "$dest" && mkdir -p "$dest" || return 1
        cp -R "$COMPLIANCE_SUITES_DIR/$name/test-suite" "$dest/" || return 1
        echo "from $COMPLIANCE_SUITES_DIR/$name" >"$dest/SOURCE"
    else
        local git_dir="$MIRROR_DIR/socketio+$name/repo"
        if ! git --git-dir="$git_dir" cat-file -e HEAD:test-suite/test-suite.js 2>/dev/null; then
            local why="no $name/test-suite/test-suite.js"
            if [ -n "${COMPLIANCE_SUITES_DIR:-}" ]; then why+=" under COMPLIANCE_SUITES_DIR=$COMPLIANCE_SUITES_DIR"; else why+=" (COMPLIANCE_SUITES_DIR unset)"; fi
            why+=" and no git mirror with test-suite/ at $git_dir"
            echo "$why" >&2
            return 2
        fi
        rm -rf "$dest" && mkdir -p "$dest" || return 1
        git --git-dir="$git_dir" archive HEAD test-suite | tar -x -C "$dest" || return 1
        echo "from $git_dir at $(git --git-dir="$git_dir" rev-parse --short HEAD)" >"$dest/SOURCE"
    fi
    cp scripts/compliance/node-imports.js "$dest/test-suite/node-imports.js" || return 1
    echo "$dest/test-suite"
}

mkdir -p "$WORK"
declare -A SUITE_DIR=()
skipped=0
for name in $SUITES; do
    case "$name" in socket.io-protocol | engine.io-protocol) ;; *) die "unknown suite $name" ;; esac
    if dir="$(prepare_suite "$name" 2>"$WORK.err")"; then
        SUITE_DIR[$name]="$dir"
        say "$name suite $(cat "$WORK/$name/SOURCE")"
    else
        rc=$?
        [ "$rc" -eq 2 ] || die "could not extract the $name suite: $(cat "$WORK.err" 2>/dev/null)"
        say "SKIPPED: compliance suites not available ($(cat "$WORK.err"))"
        skipped=$((skipped + 1))
    fi
done
rm -f "$WORK.err"
if [ "${#SUITE_DIR[@]}" -eq 0 ]; then
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

total_pass=0
total_fail=0
failed_suites=()

run_suite() {
    local name="$1" dir="$2"
    local log="$WORK/$name/server.log" out="$WORK/$name/mocha.out"
    local args=(--port "$PORT")
    [ "$name" = engine.io-protocol ] && args+=(--engine-io)

    say "starting $BIN ${args[*]}"
    "$BIN" "${args[@]}" >"$log" 2>&1 &
    SERVER_PID=$!
    local waited=0
    until port_open "$PORT"; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            say "server exited before listening; its output:"
            sed 's/^/  | /' "$log"
            SERVER_PID=""
            failed_suites+=("$name(server did not start)")
            total_fail=$((total_fail + 1))
            return
        fi
        if [ "$waited" -ge 300 ]; then
            say "server did not open port $PORT within 30 s"
            stop_server
            failed_suites+=("$name(server did not start)")
            total_fail=$((total_fail + 1))
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

    local pass fail
    pass=$(grep -Eo '^ *[0-9]+ passing' "$out" | grep -Eo '[0-9]+' | tail -1)
    fail=$(grep -Eo '^ *[0-9]+ failing' "$out" | grep -Eo '[0-9]+' | tail -1)
    pass=${pass:-0}
    fail=${fail:-0}
    if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        fail=1 # mocha crashed or timed out without reporting
    fi
    if [ "$alive" = no ]; then
        say "$name: the server process died during the suite; its output:"
        tail -n 50 "$log" | sed 's/^/  | /'
        [ "$fail" -gt 0 ] || fail=1
    fi
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
    say "$name: $pass passing, $fail failing (mocha exit $rc)"
    if [ "$rc" -ne 0 ] || [ "$fail" -gt 0 ]; then
        failed_suites+=("$name")
        if [ "$alive" = yes ]; then
            say "$name: server log tail ($log):"
            tail -n 30 "$log" | sed 's/^/  | /'
        fi
    fi
}

retried=()
for name in $SUITES; do
    [ -n "${SUITE_DIR[$name]:-}" ] || continue
    before=${#failed_suites[@]} pass0=$total_pass fail0=$total_fail
    run_suite "$name" "${SUITE_DIR[$name]}"
    if [ "${#failed_suites[@]}" -gt "$before" ]; then
        # Some tests of these suites (e.g. "closes the session upon ping timeout" over polling)
        # have no timing slack and fail now and then on a loaded machine, for the reference
        # server too. A failing suite runs once more; both attempts are in the log above.
        say "$name failed once; running it again (timing tests without slack; see above)"
        failed_suites=("${failed_suites[@]:0:$before}")
        total_pass=$pass0 total_fail=$fail0
        retried+=("$name")
        run_suite "$name" "${SUITE_DIR[$name]}"
    fi
done
[ "${#retried[@]}" -eq 0 ] || say "suites that needed a second run: ${retried[*]}"

if [ "${#failed_suites[@]}" -gt 0 ]; then
    say "FAILED suites: ${failed_suites[*]}"
fi
[ "$skipped" -eq 0 ] || say "($skipped suite(s) skipped)"
echo "compliance: $total_pass passed, $total_fail failed"
[ "${#failed_suites[@]}" -eq 0 ]
