"""Broadcasts across two instances through Redis: rooms, `except`, to-others, binary, acks."""

from __future__ import annotations

from cluster_helpers import flush, unique


def expect_once(cluster, receivers, others, event, args):
    """Each receiver gets `event` with `args` exactly once, the others never: checked after
    flush(), whose markers come after anything the broadcast delivered (duplicates too)."""
    for c in receivers:
        got = c.rec.wait(event)
        assert got[0] == args, f"{c.label} got {got[0]!r}, expected {args!r}"
    flush(cluster, [*receivers, *others])
    for c in receivers:
        assert c.rec.all(event) == [args], f"{c.label} got {event!r} {c.rec.count(event)} times: {c.rec.all(event)!r}"
    for c in others:
        assert c.rec.count(event) == 0, f"{c.label} should not get {event!r}, got {c.rec.all(event)!r}"


def test_server_count_is_two(cluster, clients):
    assert clients(cluster.one).call("server-count") == 2
    assert clients(cluster.two).call("server-count") == 2
    assert cluster.redis.numsub() == 2
    assert clients(cluster.one).call("whoami") == "one"
    assert clients(cluster.two).call("whoami") == "two"


def test_room_broadcast_reaches_both_instances_exactly_once(cluster, clients):
    room = unique("room")
    a1 = clients(cluster.one, room=room, label="a1@one")
    a2 = clients(cluster.one, room=room, label="a2@one")
    b1 = clients(cluster.two, room=room, label="b1@two")
    b2 = clients(cluster.two, room=room, label="b2@two")
    out1 = clients(cluster.one, label="outsider@one")
    out2 = clients(cluster.two, label="outsider@two")
    members = [a1, a2, b1, b2]

    payload = {"n": 1, "text": "héllo", "list": [1, 2.5, None, True]}
    assert a1.call("broadcast", {"room": room, "event": "news", "data": payload}) == "ok"
    expect_once(cluster, members, [out1, out2], "news", (payload,))

    # The other direction, from a socket that is not in the room.
    assert out2.call("broadcast", {"room": room, "event": "news2", "data": "from two"}) == "ok"
    expect_once(cluster, members, [out1, out2], "news2", ("from two",))


def test_broadcast_except_is_honoured_across_instances(cluster, clients):
    room, vip = unique("room"), unique("vip")
    a1 = clients(cluster.one, room=room, label="a1@one")
    a2 = clients(cluster.one, room=room, label="a2@one")
    b1 = clients(cluster.two, room=room, label="b1@two")
    b2 = clients(cluster.two, room=room, label="b2@two")
    sender = clients(cluster.one, label="sender@one")
    for c in (a2, b2):
        assert vip in c.call("join", vip)

    # except a room with members on both instances
    assert sender.call("broadcast", {"room": room, "event": "e1", "data": 1, "except": vip}) == "ok"
    expect_once(cluster, [a1, b1], [a2, b2, sender], "e1", (1,))

    # except one socket of the OTHER instance, by its id (ids are rooms)
    assert sender.call("broadcast", {"room": room, "event": "e2", "data": 2, "except": b1.sid}) == "ok"
    expect_once(cluster, [a1, a2, b2], [b1, sender], "e2", (2,))

    # from instance two, except a socket of instance one
    assert b2.call("broadcast", {"room": room, "event": "e3", "data": 3, "except": a1.sid}) == "ok"
    expect_once(cluster, [a2, b1, b2], [a1, sender], "e3", (3,))


def test_broadcast_to_others_excludes_only_the_sender(cluster, clients):
    room = unique("room")
    a1 = clients(cluster.one, room=room, label="a1@one")
    a2 = clients(cluster.one, room=room, label="a2@one")
    b1 = clients(cluster.two, room=room, label="b1@two")
    b2 = clients(cluster.two, room=room, label="b2@two")

    assert a1.call("broadcast-others", {"room": room, "event": "o1", "data": "x"}) == "ok"
    expect_once(cluster, [a2, b1, b2], [a1], "o1", ("x",))

    assert b1.call("broadcast-others", {"room": room, "event": "o2", "data": "y"}) == "ok"
    expect_once(cluster, [a1, a2, b2], [b1], "o2", ("y",))


def test_binary_payloads_cross_instances(cluster, clients):
    room = unique("room")
    a1 = clients(cluster.one, room=room, label="a1@one")
    b1 = clients(cluster.two, room=room, label="b1@two")
    blob = bytes(range(256)) * 4  # 1 KiB, every byte value

    assert a1.call("broadcast", {"room": room, "event": "bin", "data": blob}) == "ok"
    for c in (a1, b1):
        (got,) = c.rec.wait("bin")[0]
        assert isinstance(got, bytes), f"{c.label} got {type(got).__name__}: {got!r:.200}"
        assert got == blob, f"{c.label} got {len(got)} bytes, not the 1024 sent"

    nested = {"name": "file", "parts": [b"\x00\x01\x02", {"tail": b"\xff" * 300}], "n": 7}
    assert b1.call("broadcast", {"room": room, "event": "nested", "data": nested}) == "ok"
    for c in (a1, b1):
        (got,) = c.rec.wait("nested")[0]
        assert got == nested, f"{c.label} got {got!r}"
        assert isinstance(got["parts"][0], bytes) and isinstance(got["parts"][1]["tail"], bytes), got
    flush(cluster, [a1, b1])
    assert a1.rec.count("bin") == b1.rec.count("bin") == 1
    assert a1.rec.count("nested") == b1.rec.count("nested") == 1


def test_broadcast_with_acks_collects_clients_of_both_instances(cluster, clients):
    room = unique("room")

    def answer(name):
        return lambda data: {"by": name, "got": data}

    members = [
        clients(cluster.one, room=room, acks={"q": answer("a1")}, label="a1@one"),
        clients(cluster.one, room=room, acks={"q": answer("a2")}, label="a2@one"),
        clients(cluster.two, room=room, acks={"q": answer("b1")}, label="b1@two"),
        clients(cluster.two, room=room, acks={"q": answer("b2")}, label="b2@two"),
    ]
    for sender in (clients(cluster.one, label="sender@one"), clients(cluster.two, label="sender@two")):
        data = {"k": unique("ask")}
        result, elapsed = sender.timed_call("broadcast-ack", {"room": room, "event": "q", "data": data},
                                            timeout=8)
        assert result["error"] is None, f"from {sender.label}: {result!r} after {elapsed:.2f}s"
        got = sorted(result["responses"], key=lambda r: r["by"])
        assert got == [{"by": n, "got": data} for n in ("a1", "a2", "b1", "b2")], result
        assert elapsed < 2.0, f"complete result should come before the 2 s timeout, took {elapsed:.2f}s"
    for c in members:
        assert c.rec.count("q") == 2, f"{c.label} asked {c.rec.count('q')} times"


def test_broadcast_with_acks_carries_binary_acks_across(cluster, clients):
    room = unique("room")
    clients(cluster.two, room=room, acks={"q": lambda data: b"\x00\xfe\xff"}, label="b1@two")
    clients(cluster.one, room=room, acks={"q": lambda data: "text"}, label="a1@one")
    sender = clients(cluster.one, label="sender@one")
    result = sender.call("broadcast-ack", {"room": room, "event": "q", "data": 1}, timeout=8)
    assert result["error"] is None, result
    responses = result["responses"]
    assert sorted(responses, key=repr) == sorted([b"\x00\xfe\xff", "text"], key=repr), responses


def test_broadcast_with_acks_to_an_empty_room_completes_at_once(cluster, clients):
    sender = clients(cluster.one, label="sender@one")
    result, elapsed = sender.timed_call("broadcast-ack", {"room": unique("nobody"), "event": "q", "data": 1},
                                        timeout=8)
    assert result == {"responses": [], "error": None}, result
    assert elapsed < 1.5, f"an ack broadcast nobody receives should complete at once, took {elapsed:.2f}s"
