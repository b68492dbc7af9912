"""A Redis Cluster of Debian's redis-servers on loopback (3 primaries + 3 replicas by default),
made with `redis-cli --cluster create`, for the suites that run on one: its nodes' roles, owners
of slots and keys, and stopping it."""

from __future__ import annotations

import os
import random
import socket
import subprocess
from pathlib import Path

from support.waiting import poll as wait_until

REDIS_SERVER = os.environ.get("REDIS_SERVER", "redis-server")
REDIS_CLI = os.environ.get("REDIS_CLI", "redis-cli")


def cluster_port(taken: set[int]) -> int:
    """A free port whose cluster bus port (+10000) is free and valid too."""
    while True:
        port = random.randint(20000, 40000)
        if port in taken or port + 10000 in taken:
            continue
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        taken.update({port, port + 10000})
        return port


class RedisCluster:
    def __init__(self, folder: Path, nodes: int = 6):
        taken: set[int] = set()
        self.ports = [cluster_port(taken) for _ in range(nodes)]
        self.procs = []
        for port in self.ports:
            d = folder / str(port)
            d.mkdir(parents=True)
            log = open(d / "redis.log", "ab")
            self.procs.append((subprocess.Popen(
                [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", str(d / "nodes.conf"), "--cluster-node-timeout", "2000", "--dir", str(d),
                 "--save", "", "--appendonly", "no"], stdout=log, stderr=subprocess.STDOUT), log))
        for port in self.ports:
            assert wait_until(lambda port=port: "PONG" in self.cli(port, "ping"), 10), f"node {port} did not start"
        out = subprocess.run([REDIS_CLI, "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
                              "--cluster-replicas", "1", "--cluster-yes"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        assert wait_until(self.is_ok, 30), [self.cli(p, "cluster", "info") for p in self.ports]

    def cli(self, port: int, *args: str) -> str:
        out = subprocess.run([REDIS_CLI, "-h", "127.0.0.1", "-p", str(port), *args], capture_output=True, text=True,
                             timeout=30)
        return out.stdout + out.stderr

    def is_ok(self) -> bool:
        return all("cluster_state:ok" in self.cli(p, "cluster", "info") for p in self.ports) and len(self.primaries()) == 3

    def roles(self) -> dict[int, str]:
        """port -> 'master' / 'slave', from each node's own view."""
        found = {}
        for p in self.ports:
            for line in self.cli(p, "cluster", "nodes").splitlines():
                fields = line.split()
                if len(fields) > 2 and "myself" in fields[2]:
                    found[p] = "master" if "master" in fields[2] else "slave"
        return found

    def primaries(self) -> list[int]:
        return [p for p, role in self.roles().items() if role == "master"]

    def node_id(self, port: int) -> str:
        return self.cli(port, "cluster", "myid").strip()

    def keys(self, port: int, pattern: str = "auction:*") -> list[str]:
        return [k for k in self.cli(port, "--scan", "--pattern", pattern).splitlines() if k]

    def stop(self) -> None:
        for proc, log in self.procs:
            proc.terminate()
        for proc, log in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            log.close()

    def owner_of(self, key: str) -> int:
        """The port of the primary serving the slot of `key` (a channel name for sharded pub/sub)."""
        slot = int(self.cli(self.ports[0], "cluster", "keyslot", key).strip())
        for line in self.cli(self.ports[0], "cluster", "nodes").splitlines():
            fields = line.split()
            if len(fields) > 8 and "master" in fields[2]:
                for part in fields[8:]:
                    low, _, high = part.partition("-")
                    if low.isdigit() and int(low) <= slot <= int(high or low):
                        return int(fields[1].split(":")[1].split("@")[0])
        raise AssertionError(f"no primary serves slot {slot}")

    @property
    def seeds(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.ports[:2])

    def fail_over_every_primary(self) -> None:
        """`CLUSTER FAILOVER` on each primary's replica, one after the other, until every old
        primary is a replica (bounded)."""
        before = set(self.primaries())
        for primary in sorted(before):
            primary_id = self.node_id(primary)
            replica = next(p for p in self.ports if p not in before
                           and primary_id in self.cli(p, "cluster", "nodes").split("myself", 1)[1].split("\n", 1)[0])
            answer = self.cli(replica, "cluster", "failover")
            assert "OK" in answer, answer
            assert wait_until(lambda replica=replica: self.roles().get(replica) == "master", 20), \
                (replica, self.roles(), self.cli(replica, "cluster", "nodes"))
        assert wait_until(lambda: set(self.primaries()).isdisjoint(before) and self.is_ok(), 30), self.roles()

