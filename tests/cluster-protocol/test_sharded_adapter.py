"""The sharded adapter (`--adapter sharded`, Node's `createShardedAdapter` wire format) on a Redis
Cluster of 3 primaries + 3 replicas: the behaviour tests of the classic adapter's modules run
again here unchanged (rooms, except, binary, broadcasts with acks, fetchSockets, serverSideEmit
with acks, remote join/leave/disconnect) with this module's `cluster`; then what is the sharded
adapter's own: the envelopes on the wire, requests published by hand in Node's format answered
to the requester's channel only, an instance receiving only the rooms it has sockets in, and
subscriptions back after a failover of every primary."""

from __future__ import annotations

import json
import re
import time

import pytest

from cluster_helpers import Client, Cluster, DemoServer, RawRedis, unique
from support.redis_cluster import RedisCluster
from support.waiting import wait_until

# The classic adapter's behaviour tests, collected again in this module (so with its fixtures).
from test_cluster_broadcast import (  # noqa: F401
    test_binary_payloads_cross_instances, test_broadcast_except_is_honoured_across_instances,
    test_broadcast_to_others_excludes_only_the_sender, test_broadcast_with_acks_carries_binary_acks_across,
    test_broadcast_with_acks_collects_clients_of_both_instances, test_broadcast_with_acks_to_an_empty_room_completes_at_once,
    test_room_broadcast_reaches_both_instances_exactly_once,
)
from test_cluster_requests import (  # noqa: F401
    test_fetch_sockets_spans_both_instances_with_rooms_and_data, test_remote_disconnect_acts_on_sockets_of_the_other_instance,
    test_remote_join_and_leave_act_on_sockets_of_the_other_instance, test_requests_without_other_sockets_answer_empty,
)

MAIN = "socket.io#/#"
ENVELOPE = re.compile(rb'^\{"type":(\d+),"data":(.*),"uid":"([0-9a-f]{16})","nsp":"/"\}$', re.S)


class ClusterRedis:
    """What the modules' tests ask of `cluster.redis`, on a Redis Cluster."""

    def __init__(self, nodes: RedisCluster):
        self.nodes = nodes
        self.port = nodes.ports[0]

    def stop(self, check: bool = False) -> None:
        self.nodes.stop()

    def log_text(self) -> str:
        return ""


@pytest.fixture(scope="module")
def cluster(demo_binary, tmp_path_factory):
    base = tmp_path_factory.mktemp("sharded")
    nodes = RedisCluster(base / "redis-cluster")
    args = ["--adapter", "sharded", "--redis-cluster", nodes.seeds]
    url = f"redis://127.0.0.1:{nodes.ports[0]}"
    one = DemoServer("one", url, base / "one.log", extra_args=args)
    two = DemoServer("two", url, base / "two.log", extra_args=args)
    c = Cluster(ClusterRedis(nodes), one, two)
    c.nodes = nodes
    try:
        one.start()
        two.start()
        for server in (one, two):
            probe = Client(server, label="ready-probe").connect()
            try:
                wait_until(lambda: probe.call("server-count") == 2, timeout=15, message=f"{server.name} to count 2 servers")
            finally:
                probe.close()
        yield c
    finally:
        early = {s.name: s.stop() for s in (one, two)}
        nodes.stop()
        exited = {name: code for name, code in early.items() if code is not None}
        if exited:
            pytest.fail(f"demo server(s) exited by themselves: {exited}\n"
                        + "\n".join(f"--- {s.name} ---\n{s.log_text()}" for s in (one, two)), pytrace=False)


def subscribe(nodes: RedisCluster, channel: str) -> RawRedis:
    """A raw sharded subscriber of `channel` on the node that owns it."""
    conn = RawRedis(nodes.owner_of(channel))
    reply = conn.command("SSUBSCRIBE", channel)
    assert reply[0] == b"ssubscribe", reply
    return conn


def next_message(conn: RawRedis, timeout: float = 10) -> tuple[bytes, bytes]:
    """(channel, payload) of the next smessage."""
    deadline = time.monotonic() + timeout
    while True:
        reply = conn.read_reply(max(deadline - time.monotonic(), 0.1))
        if isinstance(reply, list) and reply and reply[0] == b"smessage":
            return reply[1], reply[2]
        assert time.monotonic() < deadline, "no smessage in time"


def settled(clients_, cluster) -> None:
    """Every serverSideEmit sent before has been handled: a serverSideEmitWithAck from each
    instance (answered after the emits before it, which go through the same channel and the same
    one-at-a-time handler queue) comes back."""
    for server, other in ((cluster.one, "two"), (cluster.two, "one")):
        assert clients_(server, label=f"settle@{server.name}").call("server-side-emit-ack", "settle") == [f"hello from {other}"]


def test_server_side_emit_reaches_the_other_instance_only(cluster, clients):
    a1, a2 = clients(cluster.one, label="a1@one"), clients(cluster.one, label="a2@one")
    b1, b2 = clients(cluster.two, label="b1@two"), clients(cluster.two, label="b2@two")
    args = ["x", 1, {"k": [True, None, 2.5]}]
    assert a1.call("server-side-emit", *args) == "ok"
    for c in (b1, b2):
        assert c.rec.wait("server-side")[0] == ({"from": "remote", "args": args},), c.label
    assert b2.call("server-side-emit", "back") == "ok"
    for c in (a1, a2):
        assert c.rec.wait("server-side")[0] == ({"from": "remote", "args": ["back"]},), c.label
    settled(clients, cluster)
    # Each emit reached the other instance's sockets once and the sender's never (the settling
    # emits are on every socket of the receiving side too: counted apart).
    for c in (a1, a2, b1, b2):
        real = [e for e in c.rec.all("server-side") if e[0]["args"] != ["settle"]]
        assert len(real) == 1, (c.label, c.rec.all("server-side"))


def test_server_side_emit_with_ack_collects_the_other_instance(cluster, clients):
    a1, b1 = clients(cluster.one, label="a1@one"), clients(cluster.two, label="b1@two")
    answers, elapsed = a1.timed_call("server-side-emit-ack", "ping", 2, timeout=8)
    assert answers == ["hello from two"] and elapsed < 2.0, (answers, elapsed)
    assert b1.rec.wait("server-side")[0] == ({"from": "remote", "args": ["ping", 2]},)
    answers, elapsed = b1.timed_call("server-side-emit-ack", {"q": 1}, timeout=8)
    assert answers == ["hello from one"] and elapsed < 2.0, (answers, elapsed)
    assert a1.rec.wait("server-side")[0] == ({"from": "remote", "args": [{"q": 1}]},)


def test_server_count_is_shardnumsub(cluster, clients):
    assert clients(cluster.one).call("server-count") == 2
    with RawRedis(cluster.nodes.owner_of(MAIN)) as conn:
        assert conn.command("PUBSUB", "SHARDNUMSUB", MAIN) == [MAIN.encode(), 2]


def test_envelopes_on_the_wire(cluster, clients):
    """A broadcast to one room goes to that room's channel as `{"type":3,"data":{"packet":…,
    "opts":…},"uid":…,"nsp":"/"}` in this key order, the packet without nsp; one with acks to the
    namespace's channel."""
    room = unique("wire")
    member = clients(cluster.two, room=room, label="member@two")
    sender = clients(cluster.one, label="sender@one")
    with subscribe(cluster.nodes, f"{MAIN}{room}#") as conn:
        assert sender.call("broadcast", {"room": room, "event": "e", "data": {"a": 1}}) == "ok"
        channel, payload = next_message(conn)
    assert channel == f"{MAIN}{room}#".encode()
    match = ENVELOPE.match(payload)
    assert match, payload
    assert match.group(1) == b"3"
    assert match.group(2) == (b'{"packet":{"type":2,"data":["e",{"a":1}]},"opts":{"rooms":["%s"],"except":[],"flags":{}}}'
                              % room.encode()), payload
    member.rec.wait("e")
    # With acks: to the namespace's channel, with its requestId after the packet.
    with subscribe(cluster.nodes, MAIN) as conn:
        assert "responses" in sender.call("broadcast-ack", {"room": room, "event": "f", "data": 2})
        channel, payload = next_message(conn)
    assert channel == MAIN.encode(), channel
    data = json.loads(payload)["data"]
    assert list(data) == ["packet", "requestId", "opts"] and re.fullmatch(r"[0-9a-f]{16}", data["requestId"]), payload


def test_requests_in_nodes_format_are_answered_to_the_requester_only(cluster, clients):
    """A FETCH_SOCKETS and a SERVER_SIDE_EMIT with ack published by hand, from a made-up uid:
    each instance answers on `P#N#<uid>#` (types 8 and 10), nothing on the main channel."""
    room = unique("byhand")
    clients(cluster.one, room=room, label="a@one")
    clients(cluster.two, room=room, label="b@two")
    uid = "0123456789abcdef"
    with subscribe(cluster.nodes, f"{MAIN}{uid}#") as answers:
        fetch = {"type": 7, "data": {"opts": {"rooms": [room], "except": []}, "requestId": "fedcba9876543210"},
                 "uid": uid, "nsp": "/"}
        with RawRedis(cluster.nodes.owner_of(MAIN)) as pub:
            assert pub.command("SPUBLISH", MAIN, json.dumps(fetch, separators=(",", ":"))) == 2
            got = [json.loads(next_message(answers)[1]) for _ in range(2)]
            assert {g["type"] for g in got} == {8}
            assert all(g["data"]["requestId"] == "fedcba9876543210" and g["nsp"] == "/" for g in got), got
            assert sorted(len(g["data"]["sockets"]) for g in got) == [1, 1], got
            assert all(room in g["data"]["sockets"][0]["rooms"] for g in got), got
            emit = {"type": 9, "data": {"packet": ["hello", "by hand"], "requestId": "00112233445566ff"}, "uid": uid, "nsp": "/"}
            assert pub.command("SPUBLISH", MAIN, json.dumps(emit, separators=(",", ":"))) == 2
            got = [json.loads(next_message(answers)[1]) for _ in range(2)]
        assert sorted(g["data"]["packet"] for g in got) == ["hello from one", "hello from two"], got
        assert {g["type"] for g in got} == {10}


def test_an_instance_receives_only_the_rooms_it_has_sockets_in(cluster, clients):
    """Eight rooms, four with sockets on one only and four on two only: broadcasts to two's rooms
    never reach one's Redis client, where the classic adapter (one pattern) delivers all."""
    ones = [unique("mine1") for _ in range(4)]
    twos = [unique("mine2") for _ in range(4)]
    for room in ones:
        clients(cluster.one, room=room, label=f"{room}@one")
    members_two = [clients(cluster.two, room=room, label=f"{room}@two") for room in twos]
    watcher = clients(cluster.one, label="counter@one")
    sender = clients(cluster.two, label="sender@two")
    time.sleep(0.6)          # the room channels' SSUBSCRIBEs (sent on join) are done
    before = watcher.call("redis-received")
    for room in twos:
        for n in range(5):
            assert sender.call("broadcast", {"room": room, "event": "local-only", "data": n}) == "ok"
    for member in members_two:
        member.rec.wait("local-only", match=lambda args: args == (4,))
    # Twenty broadcasts to two's rooms, then five to one of one's rooms: one receives exactly those five.
    for n in range(5):
        assert sender.call("broadcast", {"room": ones[0], "event": "remote", "data": n}) == "ok"
    assert wait_until(lambda: watcher.call("redis-received") - before >= 5, timeout=10)
    time.sleep(0.3)
    assert watcher.call("redis-received") - before == 5


def test_subscriptions_come_back_after_a_failover_of_every_primary(cluster, clients, measure):
    room = unique("failover")
    a = clients(cluster.one, room=room, label="a@one")
    b = clients(cluster.two, room=room, label="b@two")
    started = time.monotonic()
    cluster.nodes.fail_over_every_primary()
    failed_over = time.monotonic()

    def crosses(n: int) -> bool:
        token = f"{room}-{n}"
        a.call("broadcast", {"room": room, "event": "after", "data": token})
        try:
            b.rec.wait("after", match=lambda args: args == (token,), timeout=0.5)
            return True
        except AssertionError:
            return False

    counter = iter(range(1000))
    assert wait_until(lambda: crosses(next(counter)), timeout=10), "broadcasts did not cross again after the failover"
    back = time.monotonic() - failed_over
    measure(f"sharded adapter: broadcasts cross again {back:.2f} s after the last failover "
            f"({failed_over - started:.1f} s for three failovers)")
    assert back <= 3.0
    # Both directions, and requests.
    token = unique("back")
    assert b.call("broadcast", {"room": room, "event": "back", "data": token}) == "ok"
    a.rec.wait("back", match=lambda args: args == (token,))
    # The namespace's channel too (requests, the server count), on both. The count (SHARDNUMSUB
    # summed over the nodes of the slot map) was once seen still at 1 three seconds after the last
    # failover while broadcasts already crossed; the cause is not found yet, so it gets 10 s here.
    for client in (a, b):
        wait_until(lambda client=client: client.call("server-count") == 2, timeout=10,
                   message=f"{client.label} to count 2 servers again")
