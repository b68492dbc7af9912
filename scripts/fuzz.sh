#!/usr/bin/env bash
# Coverage-guided fuzzing of every decoder that reads peer bytes (the libFuzzer targets in Fuzz/).
#
# Builds Fuzz/ in release with libFuzzer and AddressSanitizer on its own scratch path
# (.build-fuzz, never .build), writes each target's seeds (the byte examples of the unit tests)
# into .data/fuzz/<target>/corpus, runs each target for a bounded number of executions, and
# prints executions, coverage and crashes per target. Exits 1 when any target crashed; the
# input that did it is in .data/fuzz/<target>/artifacts/, the report in .data/fuzz/<target>/log.
# Reproduce one with `.build-fuzz/release/fuzz-<target> <artifact>`.
#
# Settings (environment):
#   FUZZ_RUNS      executions per target; default: the table below (over 10 million in all)
#   FUZZ_SECONDS   time limit per target in seconds, default 210 (a run stopped by it reports
#                  the executions it did)
#   FUZZ_TARGETS   which targets, space-separated names without `fuzz-`; default all
#
# A smoke run, e.g. `FUZZ_RUNS=5000 bash scripts/fuzz.sh`, checks that every target builds and
# runs its seeds without a crash.
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH=.build-fuzz
DATA=.data/fuzz
SECONDS_PER_TARGET=${FUZZ_SECONDS:-210}

# Default executions, about 10.2 million in all, sized by what each target runs a second here
# (2 cores, ASan): the WebSocket target builds a pipeline and a session twice per input (~700/s),
# RESP runs hiredis three times and a channel handler (~3,000/s), the others 4,000-16,000/s.
declare -A DEFAULT_RUNS=(
    [engine-packet]=2200000
    [engine-payload]=700000
    [socketio-packet]=2000000
    [json]=2000000
    [msgpack]=1400000
    [resp]=400000
    [redis-adapter]=1400000
    [websocket]=100000
)
ALL_TARGETS="engine-packet engine-payload socketio-packet json msgpack resp redis-adapter websocket"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}
for target in $TARGETS; do
    [[ -n ${DEFAULT_RUNS[$target]:-} ]] || { echo "fuzz: unknown target $target (known: $ALL_TARGETS)" >&2; exit 2; }
done

# The Swift runtime's own crash handler would run inside ASan's and libFuzzer's; let them report.
export SWIFT_BACKTRACE=enable=no

mkdir -p "$DATA"
started=$SECONDS
echo "fuzz: building Fuzz/ (release, -sanitize=fuzzer,address) in $SCRATCH"
# `--sanitize=fuzzer` tells SwiftPM to leave `main` to libFuzzer. The sanitizers themselves go in
# one `-sanitize=fuzzer,address`: swiftc keeps only the last `-sanitize=` it is given, and
# `--sanitize=fuzzer --sanitize=address` reach it in no fixed order (one of the two is lost, and the
# order flipping between builds rebuilds everything).
if ! nice -n 10 swift build -c release --package-path Fuzz --scratch-path "$SCRATCH" \
    --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing >"$DATA/build.log" 2>&1; then
    grep -E "error:" "$DATA/build.log" | head -20 >&2 || tail -20 "$DATA/build.log" >&2
    echo "fuzz: build failed, see $DATA/build.log" >&2
    exit 1
fi
echo "fuzz: built in $((SECONDS - started)) s"

total_targets=0
total_runs=0
total_crashes=0
failed=0
printf '%-16s %12s %8s %8s %8s %8s\n' target executions cov ft corpus crashes
for target in $TARGETS; do
    binary="$SCRATCH/release/fuzz-$target"
    corpus="$DATA/$target/corpus"
    artifacts="$DATA/$target/artifacts"
    log="$DATA/$target/log"
    mkdir -p "$corpus" "$artifacts"
    before=$(find "$artifacts" -type f | wc -l)
    touch "$DATA/$target/started"
    FUZZ_SEED_DIR="$corpus" "$binary"
    runs=${FUZZ_RUNS:-${DEFAULT_RUNS[$target]}}
    status=0
    nice -n 10 "$binary" -runs="$runs" -max_total_time="$SECONDS_PER_TARGET" -timeout=25 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1 || status=$?

    executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    # libFuzzer's last status line (`#N DONE cov: C ft: F corp: K/…`) carries coverage and corpus.
    status_line=$(grep -E '^#[0-9]+' "$log" | grep ' cov: ' | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status_line")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status_line")
    corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$status_line")
    crashes=$(($(find "$artifacts" -type f | wc -l) - before))
    if ((status != 0 && crashes == 0)); then crashes=1; fi
    printf '%-16s %12s %8s %8s %8s %8s\n' "$target" "${executed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes"
    if ((crashes > 0)); then
        grep -E "^(invariant broken|==[0-9]+==ERROR|SUMMARY|.*Fatal error)" "$log" | head -3 | sed 's/^/    /'
        find "$artifacts" -type f -newer "$DATA/$target/started" | head -3 | sed 's/^/    input: /'
    fi
    # Coverage guidance is the point: a binary built without it must not pass quietly.
    if grep -q "Is the code instrumented for coverage" "$log"; then
        echo "    fuzz-$target found no coverage counters: rebuild with rm -rf $SCRATCH" >&2
        failed=1
    fi
    total_targets=$((total_targets + 1))
    total_runs=$((total_runs + ${executed:-0}))
    total_crashes=$((total_crashes + crashes))
done

echo "fuzz: $total_targets targets, $total_runs executions, $total_crashes crashes ($((SECONDS - started)) s with the build)"
((total_crashes == 0 && failed == 0))
