#!/usr/bin/env bash
# The Swift test targets, bounded: a test that never returns fails the run within
# SWIFT_TEST_SECONDS (default 600; the whole run takes about 15 s) and names itself, instead of
# holding `make test` until CI gives up. The tests run on a pseudo-terminal (`script`, from
# util-linux): into a pipe their output is block-buffered and dies with a killed process.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=${SWIFT_TEST_SECONDS:-600}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
command="swift test --skip-build --no-parallel $*"
timeout --kill-after=10 "$limit" script --quiet --flush --return --command "$command" /dev/null < /dev/null | tee "$log" || status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "swift-test: the Swift tests did not finish within ${limit} s; started and never finished:" >&2
    # swift-testing prints "◇ Test NAME started." and later "✔/✘ Test NAME passed/failed…".
    sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -oE 'Test [^ ]+\(.*\) started' | sed 's/ started$//' | sort -u > "$log.started" || true
    sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -oE 'Test [^ ]+\(.*\)( with [0-9]+ test cases?)? (passed|failed|skipped)' | sed -E 's/( with [0-9]+ test cases?)? (passed|failed|skipped)$//' | sort -u > "$log.ended" || true
    comm -23 "$log.started" "$log.ended" | sed 's/^/  /' >&2
    rm -f "$log.started" "$log.ended"
fi
exit "$status"
