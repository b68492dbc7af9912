"""Room broadcasts with several python-socketio clients: who receives, exactly
once; broadcast to others; broadcast with acknowledgements.

Exactly-once check: after the broadcast under test, a "marker" broadcast goes
to a room holding every client and we wait for it at each one. A server emits
to one connection in order, so anything the broadcast under test delivered
(including a duplicate) has arrived before the marker; each client then waits
for its handlers still running (python-socketio runs each on a thread of its
own), so all of it has been recorded."""

import threading
import time
import uuid

import pytest

from sio_helpers import WAIT

EVENTS = ("news", "marker")


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


class Group:
    def __init__(self, clients, transport, names, handlers=None, query_room=None):
        self.all_room = unique("all")
        self.flushes = 0
        self.members = {}
        for name in names:
            h = (handlers or {}).get(name)
            q = {"room": query_room} if query_room else None
            c = clients(transports=[transport], events=EVENTS, handlers=h, query=q)
            assert self.all_room in c.call("join", self.all_room)
            self.members[name] = c

    def __getitem__(self, name):
        return self.members[name]

    def join(self, room, *names):
        for n in names:
            assert room in self.members[n].call("join", room)

    def flush(self, via="A"):
        self.flushes += 1
        marker = f"m{self.flushes}"
        assert self[via].call("broadcast", {"room": self.all_room, "event": "marker", "data": marker}) == "ok"
        for name, c in self.members.items():
            got = c.rec.wait("marker", count=self.flushes)
            assert (marker,) in got, f"{name}: marker {marker} missing: {got}"
        for c in self.members.values():
            c.settle()

    def received(self, event="news"):
        return {name: c.rec.all(event) for name, c in self.members.items()}


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_broadcast_to_room_with_except(clients, transport):
    g = Group(clients, transport, "ABCD")
    room, excluded = unique("r"), unique("x")
    g.join(room, "A", "B", "C")
    g.join(excluded, "C", "D")
    payload = {"headline": "hello room", "n": 1}
    assert g["A"].call("broadcast", {"room": room, "event": "news", "data": payload, "except": excluded}) == "ok"
    g.flush()
    assert g.received() == {"A": [(payload,)], "B": [(payload,)], "C": [], "D": []}


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_broadcast_to_room_reaches_every_member_once(clients, transport):
    g = Group(clients, transport, "ABCD")
    room = unique("r")
    g.join(room, "A", "B", "C")
    assert g["A"].call("broadcast", {"room": room, "event": "news", "data": "one"}) == "ok"
    # a sender outside the room does not receive its own broadcast
    assert g["D"].call("broadcast", {"room": room, "event": "news", "data": "two"}) == "ok"
    g.flush()
    r = g.received()
    assert r["D"] == []
    for name in "ABC":
        assert sorted(r[name]) == [("one",), ("two",)], (name, r[name])


def test_broadcast_to_room_joined_through_handshake_query(clients):
    room = unique("q")
    g = Group(clients, "websocket", "AB", query_room=room)
    other = Group(clients, "websocket", "C")
    assert g["A"].call("broadcast", {"room": room, "event": "news", "data": "via query"}) == "ok"
    g.flush()
    other.flush(via="C")
    assert g.received() == {"A": [("via query",)], "B": [("via query",)]}
    assert other.received() == {"C": []}


def test_broadcast_binary_payload(clients):
    g = Group(clients, "websocket", "ABC")
    room = unique("bin")
    g.join(room, "A", "B")
    blob = bytes(range(256))
    assert g["C"].call("broadcast", {"room": room, "event": "news", "data": blob}) == "ok"
    g.flush()
    assert g.received() == {"A": [(blob,)], "B": [(blob,)], "C": []}


def test_broadcast_except_own_room_excludes_only_sender(clients):
    g = Group(clients, "websocket", "ABC")
    room = unique("r")
    g.join(room, "A", "B", "C")
    sender_sid = g["A"].sid("/")
    assert g["A"].call("broadcast", {"room": room, "event": "news", "data": 5, "except": sender_sid}) == "ok"
    g.flush()
    assert g.received() == {"A": [], "B": [(5,)], "C": [(5,)]}


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_broadcast_to_others(clients, transport):
    g = Group(clients, transport, "ABCD")
    room = unique("r")
    g.join(room, "A", "B", "C")
    assert g["A"].call("broadcast-others", {"room": room, "event": "news", "data": {"from": "A"}}) == "ok"
    g.flush()
    assert g.received() == {"A": [], "B": [({"from": "A"},)], "C": [({"from": "A"},)], "D": []}


def poll_handler(name, seen, delay=0.0):
    """Acks `name:q`; with `delay`, the first answer comes that many seconds late."""
    def on_poll(data):
        seen.append((name, data))
        if delay and len([n for n, _ in seen if n == name]) == 1:
            time.sleep(delay)
        return f"{name}:{data['q']}"
    return on_poll


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_broadcast_with_acks_from_several_clients(clients, transport):
    seen = []
    handlers = {n: {("/", "poll"): poll_handler(n, seen)} for n in "ABCD"}
    g = Group(clients, transport, "ABCD", handlers=handlers)
    room = unique("r")
    g.join(room, "A", "B", "C")
    started = time.monotonic()
    result = g["A"].call("broadcast-ack", {"room": room, "event": "poll", "data": {"q": "vote"}}, timeout=WAIT)
    elapsed = time.monotonic() - started
    assert result["error"] is None, result
    assert sorted(result["responses"]) == ["A:vote", "B:vote", "C:vote"], result
    assert set(result) == {"responses", "error"}, result
    assert elapsed < 1.5, f"all acks arrived, the server should not wait for its 2 s timeout ({elapsed:.2f}s)"
    assert sorted(seen) == [("A", {"q": "vote"}), ("B", {"q": "vote"}), ("C", {"q": "vote"})]


def test_broadcast_with_acks_timeout_reports_partial_responses(clients):
    seen = []
    handlers = {
        "A": {("/", "poll"): poll_handler("A", seen)},
        "B": {("/", "poll"): poll_handler("B", seen, delay=3.0)},
    }
    g = Group(clients, "websocket", "AB", handlers=handlers)
    room = unique("r")
    g.join(room, "A", "B")
    started = time.monotonic()
    result = g["A"].call("broadcast-ack", {"room": room, "event": "poll", "data": {"q": "slow"}}, timeout=10)
    elapsed = time.monotonic() - started
    assert result["error"] == "timeout", result
    assert result["responses"] == ["A:slow"], result
    assert 1.5 <= elapsed <= 3.5, f"timeout after {elapsed:.2f}s, expected about 2 s"
    # B's handler returns after 3 s and its ack goes out then, on B's connection; once B's
    # handlers are done, the echo below follows the late ack, so its answer shows the server
    # took the late ack and went on (no closed connection, no stray answer).
    g["B"].settle()
    assert sorted(seen) == [("A", {"q": "slow"}), ("B", {"q": "slow"})], seen
    assert g["B"].call("echo", "ok after late ack") == "ok after late ack"
    # and B's acks still count: the next broadcast gets both answers, its own ones
    result = g["A"].call("broadcast-ack", {"room": room, "event": "poll", "data": {"q": "again"}})
    assert result["error"] is None, result
    assert sorted(result["responses"]) == ["A:again", "B:again"], result


def test_broadcast_with_acks_to_empty_room(clients):
    c = clients(transports=["websocket"])
    started = time.monotonic()
    result = c.call("broadcast-ack", {"room": unique("empty"), "event": "poll", "data": {"q": 1}})
    assert result == {"responses": [], "error": None}
    assert time.monotonic() - started < 1.5, "no socket to wait for: the ack should come at once"


def test_concurrent_broadcasts_each_delivered_once(clients):
    g = Group(clients, "websocket", "ABC")
    room = unique("r")
    g.join(room, "A", "B", "C")
    errors = []

    def burst(name):
        try:
            for i in range(10):
                assert g[name].call("broadcast", {"room": room, "event": "news", "data": f"{name}{i}"}) == "ok"
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=burst, args=(n,)) for n in "ABC"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 3)
    assert not errors, errors
    g.flush()
    expected = sorted((f"{n}{i}",) for n in "ABC" for i in range(10))
    for name, got in g.received().items():
        assert sorted(got) == expected, (name, len(got))
