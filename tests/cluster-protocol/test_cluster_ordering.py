"""Order of what arrives through Redis. Redis delivers one publisher's messages in publish
order, and Node's adapter handles each request synchronously on receipt, so a Node cluster
keeps that order: serverSideEmit handlers run in order, REMOTE_JOIN then REMOTE_LEAVE leaves
the socket out of the room, and a broadcast to a room right after a socketsJoin into it
reaches the joined sockets (`io.in(a).socketsJoin(b); io.to(b).emit(...)`)."""

from __future__ import annotations

import json

from cluster_helpers import BROADCAST_CHANNEL, REQUEST_CHANNEL, RawRedis, flush, packb, unique
from support.waiting import wait_until

BURST = 100


def publish_pipelined(cluster, messages):
    """PUBLISHes (channel, payload) pairs back to back on one connection, as a Node server's
    Redis client does, then reads the replies."""
    with RawRedis(cluster.redis.port) as conn:
        for channel, payload in messages:
            conn.send("PUBLISH", channel, payload)
        for _ in messages:
            conn.read_reply(5)


def request(obj) -> tuple[str, bytes]:
    return REQUEST_CHANNEL, json.dumps(obj, separators=(",", ":")).encode()


def test_server_side_emits_are_handled_in_publish_order(cluster, clients):
    c1 = clients(cluster.one, label="c1@one")
    c2 = clients(cluster.two, label="c2@two")
    publish_pipelined(cluster, [request({"uid": "Ab3xY_", "type": 6, "data": ["hello", i]}) for i in range(BURST)])
    for c in (c1, c2):
        got = [a[0]["args"][0] for a in c.rec.wait("server-side", count=BURST, timeout=10)]
        assert got == list(range(BURST)), (
            f"{c.label}: serverSideEmit handlers ran out of order; first inversion at index "
            f"{next(i for i, v in enumerate(got) if v != i)}: {got}")


def test_server_side_emits_from_our_instance_keep_their_order(cluster, clients):
    sender = clients(cluster.one, label="sender@one")
    receiver = clients(cluster.two, label="receiver@two")
    for i in range(BURST):
        assert sender.call("server-side-emit", i) == "ok"
    got = [a[0]["args"][0] for a in receiver.rec.wait("server-side", count=BURST, timeout=10)]
    assert got == list(range(BURST)), f"out of order on two: {got}"


def test_join_then_leave_leaves_the_socket_out(cluster, clients):
    target = unique("t")
    c1 = clients(cluster.one, room=target, label="c1@one")
    c2 = clients(cluster.two, room=target, label="c2@two")
    opts = {"rooms": [target], "except": []}
    messages = []
    for i in range(10 * BURST):
        messages.append(request({"uid": "Ab3xY_", "type": 2, "opts": opts, "rooms": [f"x{i}"]}))
        messages.append(request({"uid": "Ab3xY_", "type": 3, "opts": opts, "rooms": [f"x{i}"]}))
    messages.append(request({"uid": "Ab3xY_", "type": 2, "opts": opts, "rooms": ["done"]}))
    publish_pipelined(cluster, messages)
    for c in (c1, c2):
        # An instance applies room changes as they arrive, in order: once the last join shows,
        # every join and leave before it has been applied.
        wait_until(lambda c=c: "done" in c.call("rooms"), timeout=5, message=f"{c.label} to get the last join")
        rooms = c.call("rooms")
        assert rooms == sorted([c.sid, target, "done"]), (
            f"{c.label} is still in rooms it joined and then left: {[r for r in rooms if r.startswith('x')]}")


def test_broadcast_right_after_a_join_reaches_the_joined_sockets(cluster, clients):
    target = unique("t")
    c1 = clients(cluster.one, room=target, label="c1@one")
    c2 = clients(cluster.two, room=target, label="c2@two")
    messages = []
    for i in range(BURST):
        room = f"{target}-y{i}"
        messages.append(request({"uid": "Ab3xY_", "type": 2, "opts": {"rooms": [target], "except": []},
                                 "rooms": [room]}))
        messages.append((f"{BROADCAST_CHANNEL}{room}#",
                         packb(["Ab3xY_", {"type": 2, "data": ["after-join", i], "nsp": "/"},
                                {"rooms": [room], "except": [], "flags": {}}])))
    publish_pipelined(cluster, messages)
    flush(cluster, [c1, c2])  # its markers come after every broadcast above
    for c in (c1, c2):
        got = [a[0] for a in c.rec.all("after-join")]
        assert got == list(range(BURST)), (
            f"{c.label} got {len(got)} of {BURST} broadcasts sent right after the join into their room")


def test_our_remote_join_then_broadcast_reaches_the_other_instance(cluster, clients):
    """The same through our own API: the demo's remote-join acks once socketsJoin has been
    published; the broadcast the client sends next must find the remote socket in the room."""
    rounds = 100
    target = unique("t")
    sender = clients(cluster.one, label="sender@one")
    receiver = clients(cluster.two, room=target, label="receiver@two")
    for i in range(rounds):
        room = f"{target}-z{i}"
        assert sender.call("remote-join", {"target": target, "room": room}) == "ok"
        assert sender.call("broadcast", {"room": room, "event": "joined", "data": i}) == "ok"
    flush(cluster, [receiver])
    got = [a[0] for a in receiver.rec.all("joined")]
    assert got == list(range(rounds)), f"received {len(got)} of {rounds}: {got}"
