#!/usr/bin/env bash
# Installs what the test suites need, only when it is missing (idempotent).
#
#   Debian packages (apt-get; as root only, otherwise prints the exact line):
#     nodejs, mocha, chai (= node-chai), node-ws   -> official compliance suites
#     libhiredis-dev, redis-server, postgresql     -> Redis adapter / storage
#     zlib1g-dev                                   -> compression of polling answers (the build links zlib)
#     nginx                                        -> the load balancer of `make run` and tests/cluster-service
#     chromium, chromium-driver                    -> tests/browser (headless, /usr/bin/chromedriver)
#     prometheus (only with WITH_PROMETHEUS=1)     -> `make run-observed` (scripts/prometheus.sh)
#     python3-venv (only when `python3 -m venv` cannot work)
#   Python packages (pip, into the venv .data/venv made with `python3 -m venv`):
#     python-socketio[client]==5.*, aiohttp, websocket-client, requests,
#     pytest, pytest-timeout                       -> tests/outside-in
#     PyJWT                                        -> tests/service (forged/expired tokens)
#     selenium                                     -> tests/browser (drives chromium-driver)
#     schemathesis, jsonschema, openapi-spec-validator, rfc3339-validator prometheus-client
#                                                  -> tests/service (the OpenAPI document, fuzzed and checked)
#
# Environment: PYTHON (default python3) picks the interpreter for the venv;
# VENV_DIR (default .data/venv) where the venv lives.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV_DIR="${VENV_DIR:-.data/venv}"

say() { printf 'install-deps: %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------
# "node-chai" is a virtual package in Debian 12; the real package is "chai".
APT_PACKAGES=(nodejs mocha chai node-ws libhiredis-dev zlib1g-dev redis-server postgresql nginx)
APT_PACKAGES+=(chromium chromium-driver)   # tests/browser
# 19 MB and a dozen packages no test needs: only for `make run-observed`.
if [ "${WITH_PROMETHEUS:-0}" = 1 ]; then APT_PACKAGES+=(prometheus); fi

deb_installed() {
    dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    if deb_installed "$pkg"; then
        say "apt: $pkg already installed"
    else
        missing+=("$pkg")
    fi
done

# `python3 -m venv` needs venv + ensurepip; Debian's python3 gets them from python3-venv.
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [ "$(command -v "$PYTHON" 2>/dev/null)" = /usr/bin/python3 ] || ! command -v "$PYTHON" >/dev/null 2>&1; then
        deb_installed python3-venv || missing+=(python3-venv)
    else
        say "error: $PYTHON cannot create a venv (no venv/ensurepip module); set PYTHON=/usr/bin/python3"
        exit 1
    fi
fi

if [ "${#missing[@]}" -gt 0 ]; then
    apt_line="apt-get install -y --no-install-recommends ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        say "missing Debian packages: ${missing[*]}; run as root:"
        echo "apt-get update && $apt_line"
        exit 1
    fi
    say "apt: apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    say "apt: $apt_line"
    # The scripts run their own PostgreSQL, Redis and nginx on loopback; keep the packages from
    # starting system-wide services (nginx would listen on *:80) by answering "no" to
    # invoke-rc.d for the duration of the install, unless a policy is already in place.
    policy=/usr/sbin/policy-rc.d
    added_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# temporary, from scripts/install-deps.sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        added_policy=1
        trap 'rm -f "$policy"' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    if [ "$added_policy" -eq 1 ]; then rm -f "$policy"; trap - EXIT; fi
fi

# --- Python venv -----------------------------------------------------------
VENV_PY="$VENV_DIR/bin/python"
if [ -x "$VENV_PY" ] && "$VENV_PY" -c 'import sys' >/dev/null 2>&1; then
    say "venv: $VENV_DIR exists"
else
    rm -rf "$VENV_DIR"
    mkdir -p "$(dirname "$VENV_DIR")"
    say "venv: $PYTHON -m venv $VENV_DIR"
    "$PYTHON" -m venv "$VENV_DIR"
fi

PIP_PACKAGES=('python-socketio[client]==5.*' aiohttp websocket-client requests pytest pytest-timeout PyJWT msgpack)
PIP_PACKAGES+=(selenium)   # tests/browser (drives /usr/bin/chromedriver)
PIP_PACKAGES+=('schemathesis==4.*' jsonschema openapi-spec-validator rfc3339-validator prometheus-client)   # tests/service (OpenAPI)
if "$VENV_PY" - <<'EOF' >/dev/null 2>&1
import importlib.metadata as md
import aiohttp, websocket, requests, pytest, pytest_timeout, socketio, engineio, jwt, msgpack  # noqa: F401
import selenium  # noqa: F401
import schemathesis, jsonschema, openapi_spec_validator, rfc3339_validator  # noqa: F401
assert md.version("python-socketio").split(".")[0] == "5"
EOF
then
    say "pip: ${PIP_PACKAGES[*]} already installed in $VENV_DIR"
else
    say "pip: $VENV_PY -m pip install ${PIP_PACKAGES[*]}"
    "$VENV_PY" -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
fi
say "done"
