"""Requests across instances: fetchSockets, serverSideEmit (with and without ack),
socketsJoin/socketsLeave/disconnectSockets on sockets of the other instance."""

from __future__ import annotations

from cluster_helpers import REQUEST_CHANNEL, Subscriber, flush, unique
from support.waiting import wait_until


def by_id(entries):
    return {e["id"]: e for e in entries}


def test_fetch_sockets_spans_both_instances_with_rooms_and_data(cluster, clients):
    room = unique("room")
    a1 = clients(cluster.one, room=room, label="a1@one")
    b1 = clients(cluster.two, room=room, label="b1@two")
    b2 = clients(cluster.two, room=room, label="b2@two")  # no data set: {} as in Node
    outsider = clients(cluster.one, label="outsider@one")
    alice = {"user": "alice", "n": 1, "tags": ["x", "y"]}
    bob = {"user": "bob", "nested": {"ok": True, "none": None}}
    assert a1.call("set-data", alice) == "ok"
    assert b1.call("set-data", bob) == "ok"
    assert b1.call("join", "extra") == sorted([b1.sid, room, "extra"])

    expected = {
        a1.sid: {"id": a1.sid, "rooms": sorted([a1.sid, room]), "data": alice},
        b1.sid: {"id": b1.sid, "rooms": sorted([b1.sid, room, "extra"]), "data": bob},
        b2.sid: {"id": b2.sid, "rooms": sorted([b2.sid, room]), "data": {}},
    }
    for asker in (outsider, b2):
        got, elapsed = asker.timed_call("fetch-sockets", room, timeout=8)
        assert by_id(got) == expected, f"asked on {asker.server.name}: {got!r}"
        assert len(got) == 3, got
        assert elapsed < 2.0, f"every server answered, so no need to wait for the timeout; took {elapsed:.2f}s"

    # Without a room: every socket of both instances (other tests' clients may still be leaving).
    everyone = by_id(outsider.call("fetch-sockets", timeout=8))
    for c in (a1, b1, b2, outsider):
        assert c.sid in everyone, f"{c.label} ({c.sid}) missing from {sorted(everyone)}"
    assert everyone[outsider.sid]["rooms"] == [outsider.sid]


def test_server_side_emit_reaches_the_other_instance_only(cluster, clients):
    a1 = clients(cluster.one, label="a1@one")
    a2 = clients(cluster.one, label="a2@one")
    b1 = clients(cluster.two, label="b1@two")
    b2 = clients(cluster.two, label="b2@two")
    args = ["x", 1, {"k": [True, None, 2.5]}]

    assert a1.call("server-side-emit", *args) == "ok"
    for c in (b1, b2):
        got = c.rec.wait("server-side")
        assert got[0] == ({"from": "remote", "args": args},), f"{c.label}: {got!r}"
    everyone = [a1, a2, b1, b2]
    flush(cluster, everyone, requests=True)
    for c in (a1, a2):
        assert c.rec.count("server-side") == 0, f"{c.label} is on the sender: {c.rec.all('server-side')!r}"
    assert b1.rec.count("server-side") == b2.rec.count("server-side") == 1

    assert b2.call("server-side-emit", "back") == "ok"
    for c in (a1, a2):
        assert c.rec.wait("server-side")[0] == ({"from": "remote", "args": ["back"]},)
    flush(cluster, everyone, requests=True)
    assert b1.rec.count("server-side") == b2.rec.count("server-side") == 1
    assert a1.rec.count("server-side") == a2.rec.count("server-side") == 1


def test_server_side_emit_with_ack_collects_the_other_instance(cluster, clients):
    a1 = clients(cluster.one, label="a1@one")
    b1 = clients(cluster.two, label="b1@two")

    answers, elapsed = a1.timed_call("server-side-emit-ack", "ping", 2, timeout=8)
    assert answers == ["hello from two"], answers
    assert elapsed < 2.0, f"the one other server answered; no need to wait for the timeout ({elapsed:.2f}s)"
    assert b1.rec.wait("server-side")[0] == ({"from": "remote", "args": ["ping", 2]},)

    answers, elapsed = b1.timed_call("server-side-emit-ack", {"q": 1}, timeout=8)
    assert answers == ["hello from one"], answers
    assert elapsed < 2.0, elapsed
    assert a1.rec.wait("server-side")[0] == ({"from": "remote", "args": [{"q": 1}]},)
    flush(cluster, [a1, b1], requests=True)
    assert a1.rec.count("server-side") == b1.rec.count("server-side") == 1


def test_remote_join_and_leave_act_on_sockets_of_the_other_instance(cluster, clients):
    target, new = unique("target"), unique("new")
    b1 = clients(cluster.two, room=target, label="b1@two")
    a1 = clients(cluster.one, room=target, label="a1@one")
    b2 = clients(cluster.two, label="b2@two (not targeted)")
    sender = clients(cluster.one, label="sender@one")

    assert sender.call("remote-join", {"target": target, "room": new}) == "ok"
    for c in (b1, a1):
        wait_until(lambda c=c: new in c.call("rooms"), timeout=3, message=f"{c.label} to be in {new}")
    assert new not in b2.call("rooms")
    assert new not in sender.call("rooms")

    # The joined room works for broadcasts from either side.
    assert sender.call("broadcast", {"room": new, "event": "in-new", "data": 1}) == "ok"
    for c in (a1, b1):
        c.rec.wait("in-new")
    flush(cluster, [a1, b1, b2, sender])
    assert a1.rec.count("in-new") == b1.rec.count("in-new") == 1
    assert b2.rec.count("in-new") == 0 and sender.rec.count("in-new") == 0

    assert sender.call("remote-leave", {"target": target, "room": new}) == "ok"
    for c in (b1, a1):
        wait_until(lambda c=c: new not in c.call("rooms"), timeout=3, message=f"{c.label} to leave {new}")
        assert c.call("rooms") == sorted([c.sid, target])

    # From instance two, targeting one socket of instance one by its id.
    other = unique("byid")
    assert b2.call("remote-join", {"target": a1.sid, "room": other}) == "ok"
    wait_until(lambda: other in a1.call("rooms"), timeout=3, message=f"a1 to be in {other}")
    assert other not in b1.call("rooms")
    assert b2.call("remote-leave", {"target": a1.sid, "room": other}) == "ok"
    wait_until(lambda: other not in a1.call("rooms"), timeout=3, message=f"a1 to leave {other}")


def test_remote_disconnect_acts_on_sockets_of_the_other_instance(cluster, clients):
    target = unique("target")
    b1 = clients(cluster.two, room=target, label="b1@two")
    a1 = clients(cluster.one, room=target, label="a1@one")
    b2 = clients(cluster.two, label="b2@two (not targeted)")
    sender = clients(cluster.one, label="sender@one")

    assert sender.call("remote-disconnect", {"target": target}) == "ok"
    for c in (b1, a1):
        c.rec.wait("disconnect", timeout=3)
        wait_until(lambda c=c: not c.connected, timeout=3, message=f"{c.label} to be disconnected")
    for c in (b2, sender):
        assert c.connected, f"{c.label} should stay connected"
        assert c.call("echo", "still") == "still"
    # Gone from the cluster's view too.
    remaining = {e["id"] for e in sender.call("fetch-sockets", timeout=8)}
    assert b1.sid not in remaining and a1.sid not in remaining, remaining
    assert {b2.sid, sender.sid} <= remaining


def test_requests_without_other_sockets_answer_empty(cluster, clients):
    """A room with no socket anywhere: every server answers, with an empty list."""
    asker = clients(cluster.two, label="asker@two")
    got, elapsed = asker.timed_call("fetch-sockets", unique("empty"), timeout=8)
    assert got == [] and elapsed < 2.0, (got, elapsed)


def test_server_side_emit_with_ack_reports_a_timeout_with_the_answers_that_came(cluster, clients):
    """A third subscriber of the request channel counts as a server (NUMSUB) and never answers:
    Node's serverSideEmitWithAck then fails with a timeout that carries the other answers."""
    a1 = clients(cluster.one, label="a1@one")
    clients(cluster.two, label="b1@two")
    assert a1.call("server-side-emit-ack-strict", "ping", timeout=8) == {"answers": ["hello from two"]}
    with Subscriber(cluster.redis.port) as silent:
        silent.subscribe(REQUEST_CHANNEL)
        got = a1.call("server-side-emit-ack-strict", "ping", timeout=15)
    assert got == {"error": "timeout", "answers": ["hello from two"]}, got
