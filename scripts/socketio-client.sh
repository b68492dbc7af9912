#!/usr/bin/env bash
# The official Socket.IO browser client (socket.io.min.js 4.8.1) for the web UI, taken from a
# PyPI package that ships it unchanged (nicegui bundles it as nicegui/static/socket.io.min.js),
# checked against a pinned SHA-256 and stored as .data/socket.io/socket.io.min.js.
# Nothing third-party is committed; `make run` and `make test` call this.
#
#   scripts/socketio-client.sh          fetch it if missing (or its checksum is wrong); print the path
#   scripts/socketio-client.sh env      the same, then print `export SOCKETIO_CLIENT_JS=<abs path>`
#                                       (use as: eval "$(bash scripts/socketio-client.sh env)")
#   scripts/socketio-client.sh path     print the path only, fetch nothing (exit 1 when not there)
#
# Idempotent: nothing is downloaded when the file is there with the pinned checksum.
# Progress goes to stderr; stdout carries only the path / the export line.
# Environment: PIP (default: .data/venv/bin/pip when present, else `python3 -m pip`),
#              SOCKETIO_CLIENT_DIR (default .data/socket.io).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

# Socket.IO client 4.8.1, dist/socket.io.min.js (46831 bytes). The same file is what
# https://cdn.socket.io/4.8.1/socket.io.min.js serves; its SRI hash is
# sha384-mkQ3/7FUtcGyoppY6bz/PORYoGqOl7/aSUMn2ymDOJcapfS6PHqxhRTMh1RR0Q6+ (WebRoutes.swift).
SHA256=b0e735814f8dcfecd6cdb8a7ce95a297a7e1e5f2727a29e6f5901801d52fa0c5
# PyPI wheels known to carry exactly that file; tried in order.
CARRIERS=(nicegui==3.18.0 nicegui==3.0.0)
MEMBER=nicegui/static/socket.io.min.js

DIR=${SOCKETIO_CLIENT_DIR:-.data/socket.io}
case "$DIR" in /*) ;; *) DIR="$ROOT/$DIR" ;; esac
FILE="$DIR/socket.io.min.js"

say() { printf 'socketio-client: %s\n' "$*" >&2; }

checksum_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$SHA256" ]; }

pip_cmd() {
    if [ -n "${PIP:-}" ]; then
        # shellcheck disable=SC2086
        echo $PIP
    elif [ -x "$ROOT/.data/venv/bin/pip" ]; then
        echo "$ROOT/.data/venv/bin/pip"
    else
        echo "python3 -m pip"
    fi
}

extract() {   # extract WHEEL OUT -> the member of the wheel into OUT (python's zipfile: no unzip needed)
    python3 - "$1" "$2" "$MEMBER" <<'EOF'
import sys, zipfile
wheel, out, member = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, open(out, "wb") as f:
    f.write(z.read(member))
EOF
}

fetch() {
    local tmp carrier wheel pip
    pip=$(pip_cmd)
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/socketio-client.XXXXXX")
    for carrier in "${CARRIERS[@]}"; do
        say "pip download --no-deps $carrier (for $MEMBER)"
        # shellcheck disable=SC2086
        if ! timeout 300 $pip download -q --no-deps --disable-pip-version-check -d "$tmp/$carrier" "$carrier" >&2; then
            say "could not download $carrier"
            continue
        fi
        wheel=$(ls "$tmp/$carrier"/*.whl 2>/dev/null | head -n 1 || true)
        if [ -z "$wheel" ] || ! extract "$wheel" "$tmp/socket.io.min.js" 2>/dev/null; then
            say "$carrier has no $MEMBER"
            continue
        fi
        if ! checksum_ok "$tmp/socket.io.min.js"; then
            say "$MEMBER of $carrier does not have the pinned SHA-256 $SHA256"
            continue
        fi
        mkdir -p "$DIR"
        mv -f "$tmp/socket.io.min.js" "$FILE.tmp.$$"
        mv -f "$FILE.tmp.$$" "$FILE"
        say "stored $FILE"
        rm -rf "$tmp"
        return 0
    done
    rm -rf "$tmp"
    say "error: no carrier package gave the Socket.IO client with SHA-256 $SHA256"
    return 1
}

ensure() {
    if checksum_ok "$FILE"; then
        say "$FILE present (SHA-256 ok)"
        return 0
    fi
    [ -e "$FILE" ] && say "$FILE has the wrong checksum: fetching it again"
    fetch
}

case "${1:-}" in
    "") ensure; echo "$FILE" ;;
    env) ensure; printf 'export SOCKETIO_CLIENT_JS=%q\n' "$FILE" ;;
    path) checksum_ok "$FILE" && echo "$FILE" ;;
    *) echo "usage: $0 [env|path]" >&2; exit 2 ;;
esac
