"""The service on a Redis Cluster (3 primaries + 3 replicas of Debian's redis-server, started
here): two instances given one seed node in REDIS_CLUSTER_NODES share sign-ins, sessions and bid
limits (keys spread over the primaries by slot) and broadcasts (the classic adapter: pub/sub
reaches every node), and keep doing so through a failover of every primary (MOVED: the slot map
is reread) and a reshard of slots while requests flow (ASK and MOVED)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

from service_helpers import Api, Instance, SioClient, assert_ok_ack, new_item, new_user, wait_until

REDIS_SERVER = os.environ.get("REDIS_SERVER", "redis-server")
REDIS_CLI = os.environ.get("REDIS_CLI", "redis-cli")


def cluster_port(taken: set[int]) -> int:
    """A free port whose cluster bus port (+10000) is free and valid too."""
    import random
    import socket
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


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, stack):
    stack.require_redis()
    c = RedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    yield c
    c.stop()


@pytest.fixture(scope="module")
def instances(cluster, stack, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster-instances")
    seed = f"127.0.0.1:{cluster.ports[0]}"
    made = []
    try:
        for name in ("one", "two"):
            made.append(Instance(stack, folder / f"{name}.log", redis=False, REDIS_CLUSTER_NODES=seed))
        for inst in made:
            assert wait_until(lambda inst=inst: requests.get(inst.url + "/readyz", timeout=5).status_code == 200, 15), \
                inst.log_text()
        yield made
    finally:
        for inst in made:
            inst.stop()


def round_trip(one, two, label: str) -> None:
    """A sign-in made on one refreshed on the other, a session made on two used on one, and a bid
    on one reaching a polling tab on two."""
    seller = new_user(Api(one), name=f"Seller {label}")
    item = new_item(Api(one), seller)
    bidder = new_user(Api(one), name=f"Bidder {label}")
    r = Api(two).post("/auth/refresh", json={"refreshToken": bidder.refresh_token})
    assert r.status_code == 200, (label, r.text, two.log_text())
    watcher = new_user(Api(two), name=f"Watcher {label}")
    tabs = [SioClient(one, token=bidder.token).connect(item_id=item["id"]),
            SioClient(two, token=watcher.token).connect(item_id=item["id"], transports=["polling"])]
    try:
        bid = assert_ok_ack(tabs[0].bid(item["id"], item["startingPrice"]))
        assert tabs[1].wait_bid(bid["id"]), f"{label}: the bid did not reach the other instance:\n{two.log_text()}"
    finally:
        for t in tabs:
            t.close()


def test_two_instances_share_everything_on_the_cluster(cluster, instances):
    one, two = instances
    for n in range(3):
        round_trip(one, two, f"start {n}")
    # The keys are spread over the primaries by slot (a single connection would have put them all
    # on one node, or been refused with MOVED).
    holding = [p for p in cluster.primaries() if cluster.keys(p)]
    assert len(holding) >= 2, {p: cluster.keys(p) for p in cluster.primaries()}
    for inst in instances:
        body = requests.get(inst.url + "/readyz", timeout=5).json()
        assert body["redis"] == "up", body


def test_a_failover_of_every_primary(cluster, instances):
    """Each primary's replica takes over (CLUSTER FAILOVER): the old primaries answer MOVED, the
    instances reread the slot map and go on; subscriptions on any node keep receiving."""
    one, two = instances
    before = set(cluster.primaries())
    for primary in sorted(before):
        primary_id = cluster.node_id(primary)
        replica = next(p for p in cluster.ports if p not in before and primary_id in cluster.cli(p, "cluster", "nodes")
                       .split("myself", 1)[1].split("\n", 1)[0])
        answer = cluster.cli(replica, "cluster", "failover")
        assert "OK" in answer, answer
        assert wait_until(lambda replica=replica: cluster.roles().get(replica) == "master", 20), \
            (replica, cluster.roles(), cluster.cli(replica, "cluster", "nodes"))
    assert wait_until(lambda: set(cluster.primaries()).isdisjoint(before) and cluster.is_ok(), 30), cluster.roles()
    for n in range(3):
        round_trip(one, two, f"after failover {n}")
    for inst in instances:
        assert requests.get(inst.url + "/readyz", timeout=5).status_code == 200


def test_slots_moving_while_requests_flow(cluster, instances):
    """A reshard moves a third of the slots between primaries while logins and refreshes run."""
    one, two = instances
    primaries = sorted(cluster.primaries())
    source, target = cluster.node_id(primaries[0]), cluster.node_id(primaries[1])
    reshard = subprocess.Popen([REDIS_CLI, "--cluster", "reshard", f"127.0.0.1:{primaries[0]}", "--cluster-from", source,
                                "--cluster-to", target, "--cluster-slots", "1000", "--cluster-yes",
                                "--cluster-pipeline", "10"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    answers = []
    deadline = time.monotonic() + 60
    while reshard.poll() is None and time.monotonic() < deadline:
        user = new_user(Api(one), name="Reshard")
        answers.append(Api(two).post("/auth/refresh", json={"refreshToken": user.refresh_token}).status_code)
    out, _ = reshard.communicate(timeout=60)
    assert reshard.returncode == 0, out
    assert answers and set(answers) == {200}, answers
    round_trip(one, two, "after reshard")
