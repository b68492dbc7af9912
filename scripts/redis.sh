#!/usr/bin/env bash
# A throwaway redis-server for development and tests, on loopback only, with no persistence.
#
#   scripts/redis.sh start  DIR PORT   start redis-server on 127.0.0.1:PORT (daemonized; pidfile,
#                                      log and working dir in DIR; no RDB, no AOF), wait until
#                                      `redis-cli -p PORT ping` answers, print the Redis URL
#   scripts/redis.sh stop   DIR        SHUTDOWN NOSAVE (else SIGTERM, then SIGKILL, by the pidfile)
#                                      and wait until the process is gone and the port is closed;
#                                      a no-op when it is not running
#   scripts/redis.sh status DIR        exit 0 when the server of DIR is running
#   scripts/redis.sh url    PORT       print the Redis URL
#
# DIR holds DIR/redis.pid, DIR/redis.port and DIR/redis.log. Only the URL goes to stdout;
# progress goes to stderr. Every wait is bounded.
# Environment: REDIS_SERVER (default redis-server), REDIS_CLI (default redis-cli),
#              REDIS_WAIT (seconds for each wait, default 10).
set -euo pipefail

usage() { echo "usage: $0 start DIR PORT | stop DIR | status DIR | url PORT" >&2; exit 2; }
say() { printf 'redis.sh: %s\n' "$*" >&2; }

REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}
REDIS_WAIT=${REDIS_WAIT:-10}
STEPS=$((REDIS_WAIT * 10))  # 0.1 s each

url() { echo "redis://127.0.0.1:$1"; }

need() {
    command -v "$1" >/dev/null 2>&1 || {
        say "$1 not found (install the Debian package 'redis-server': bash scripts/install-deps.sh)"
        exit 1
    }
}

# True when redis on 127.0.0.1:$1 answers PING (bounded by `timeout`).
answers() {
    [ "$(timeout 2 "$REDIS_CLI" -h 127.0.0.1 -p "$1" ping 2>/dev/null || true)" = PONG ]
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
    timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# True while process $1 exists and has not exited (a zombie waiting for its reaper is gone).
alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)
    [ "$state" != Z ] && [ "$state" != X ]
}

# The pid of DIR's running redis-server (a stale pidfile whose pid was reused does not count).
pid_of() {
    local pid
    [ -f "$1/redis.pid" ] || return 1
    pid=$(tr -dc 0-9 <"$1/redis.pid")
    [ -n "$pid" ] && alive "$pid" || return 1
    grep -q '^redis-server' "/proc/$pid/comm" 2>/dev/null || return 1
    echo "$pid"
}

start() {
    local dir=$1 port=$2 i
    need "$REDIS_SERVER"
    need "$REDIS_CLI"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if pid_of "$dir" >/dev/null; then
        if [ "$(cat "$dir/redis.port" 2>/dev/null || true)" != "$port" ]; then
            say "already running from $dir on port $(cat "$dir/redis.port" 2>/dev/null || echo '?'), not $port (stop it first)"
            exit 1
        fi
        say "already running ($dir, port $port)"
    else
        if port_open "$port"; then
            say "port $port on 127.0.0.1 is taken by another process"
            exit 1
        fi
        rm -f "$dir/redis.pid"
        echo "$port" >"$dir/redis.port"
        say "starting on 127.0.0.1:$port (log $dir/redis.log)"
        "$REDIS_SERVER" --bind 127.0.0.1 --port "$port" --protected-mode yes \
            --save "" --appendonly no --dir "$dir" \
            --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
            --daemonize yes >/dev/null
    fi
    for i in $(seq 1 "$STEPS"); do
        if answers "$port"; then
            url "$port"
            return 0
        fi
        sleep 0.1
    done
    say "no answer to PING on 127.0.0.1:$port after ${REDIS_WAIT} s; last lines of $dir/redis.log:"
    tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
    exit 1
}

stop() {
    local dir=$1 pid port i
    if [ ! -d "$dir" ]; then
        say "not running ($dir does not exist)"
        return 0
    fi
    dir=$(cd "$dir" && pwd)
    port=$(cat "$dir/redis.port" 2>/dev/null || true)
    if ! pid=$(pid_of "$dir"); then
        say "not running ($dir)"
        rm -f "$dir/redis.pid"
        return 0
    fi
    say "stopping pid $pid (port ${port:-?})"
    if [ -n "$port" ]; then
        # Nothing to save anyway; the connection drops when the server exits.
        timeout 2 "$REDIS_CLI" -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    fi
    for i in $(seq 1 "$STEPS"); do
        alive "$pid" || break
        # SIGTERM too, once, in case SHUTDOWN did not get through.
        [ "$i" -eq 5 ] && { kill -TERM "$pid" 2>/dev/null || true; }
        sleep 0.1
    done
    if alive "$pid"; then
        say "pid $pid still there after ${REDIS_WAIT} s; SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for i in $(seq 1 50); do
            alive "$pid" || break
            sleep 0.1
        done
    fi
    if [ -n "$port" ]; then
        for i in $(seq 1 "$STEPS"); do
            port_open "$port" || break
            [ "$i" -eq "$STEPS" ] && { say "port $port still open after ${REDIS_WAIT} s"; exit 1; }
            sleep 0.1
        done
    fi
    rm -f "$dir/redis.pid"
}

[ $# -ge 2 ] || usage
case "$1" in
    start) [ $# -eq 3 ] || usage; start "$2" "$3" ;;
    stop) stop "$2" ;;
    status) pid_of "$2" >/dev/null ;;
    url) url "$2" ;;
    *) usage ;;
esac
