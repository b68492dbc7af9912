#!/usr/bin/env bash
# A local Redis Cluster of Debian's redis-servers: 3 primaries + 3 replicas on loopback.
#
#   scripts/redis-cluster.sh start DIR FIRST_PORT   six redis-servers on FIRST_PORT … FIRST_PORT+5
#                                                   (cluster bus on +10000), daemonized, each with
#                                                   its nodes.conf, AOF and log in DIR/<port>; the
#                                                   cluster is created the first time (kept after),
#                                                   waited for until `cluster_state:ok`; prints the
#                                                   seed nodes for REDIS_CLUSTER_NODES
#   scripts/redis-cluster.sh stop  DIR              SHUTDOWN NOSAVE each node of DIR (bounded)
#
# Every wait is bounded. Environment: REDIS_SERVER, REDIS_CLI.
set -euo pipefail
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}
say() { printf 'redis-cluster.sh: %s\n' "$*" >&2; }
usage() { echo "usage: $0 start DIR FIRST_PORT | stop DIR" >&2; exit 2; }

ping() { [ "$(timeout 3 "$REDIS_CLI" -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }

start() {
    local dir=$1 first=$2 port ports=() i
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    for i in 0 1 2 3 4 5; do
        port=$((first + i))
        ports+=("$port")
        mkdir -p "$dir/$port"
        if ping "$port"; then continue; fi
        "$REDIS_SERVER" --bind 127.0.0.1 --port "$port" --cluster-enabled yes --cluster-config-file "$dir/$port/nodes.conf" \
            --cluster-node-timeout 3000 --dir "$dir/$port" --appendonly yes --save "" --daemonize yes \
            --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log"
    done
    for port in "${ports[@]}"; do
        for _ in $(seq 1 100); do ping "$port" && break; sleep 0.1; done
        ping "$port" || { tail -n 20 "$dir/$port/redis.log" >&2; say "node $port did not start"; exit 1; }
    done
    if ! timeout 5 "$REDIS_CLI" -p "$first" cluster info | grep -q '^cluster_state:ok'; then
        if [ "$(timeout 5 "$REDIS_CLI" -p "$first" cluster info | sed -n 's/^cluster_known_nodes:\([0-9]*\).*/\1/p')" = 1 ]; then
            say "creating the cluster (3 primaries + 3 replicas)"
            timeout 60 "$REDIS_CLI" --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 1 --cluster-yes >&2
        fi
        for _ in $(seq 1 300); do
            timeout 5 "$REDIS_CLI" -p "$first" cluster info | grep -q '^cluster_state:ok' && break
            sleep 0.1
        done
        timeout 5 "$REDIS_CLI" -p "$first" cluster info | grep -q '^cluster_state:ok' || { say "the cluster is not ok after 30 s"; exit 1; }
    fi
    echo "127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
}

stop() {
    local dir=$1 node port
    [ -d "$dir" ] || return 0
    for node in "$dir"/*/; do
        port=$(basename "$node")
        [[ "$port" =~ ^[0-9]+$ ]] || continue
        ping "$port" && timeout 5 "$REDIS_CLI" -p "$port" shutdown nosave >/dev/null 2>&1 || true
    done
    for node in "$dir"/*/; do
        port=$(basename "$node")
        [[ "$port" =~ ^[0-9]+$ ]] || continue
        for _ in $(seq 1 50); do ping "$port" || break; sleep 0.1; done
    done
}

case "${1:-}" in
    start) [ $# -eq 3 ] || usage; start "$2" "$3" ;;
    stop) [ $# -eq 2 ] || usage; stop "$2" ;;
    *) usage ;;
esac
