"""The Redis Streams adapter (`--adapter streams`), wire-compatible with Node's
@socket.io/redis-streams-adapter 0.3.x (spec socketio-connection-recovery-and-streams-adapter.md,
Part B as §B9 changes it for 0.3), on a Redis of this module with two instances and connection
state recovery on (`--recovery`, 60 s).

What goes into the stream `socket.io` (plain broadcasts, SOCKETS_JOIN/LEAVE, DISCONNECT_SOCKETS as
fields uid, nsp, type, data: JSON, or base64 msgpack when binary) and what does not (requests,
ack broadcasts and responses: msgpack on `socket.io#/#` and `socket.io#/#<uid>#`); entries written
by hand as a Node instance writes them reach our clients; order across instances; recovery of a
dropped socket on the other instance, and of a session a Node instance stored; malformed entries,
pids and offsets; recovery off; the stream reader resuming after its Redis connection is killed.

Raw Socket.IO clients (cluster_helpers.RawSocket) are used wherever order or the exact frames
matter: python-socketio runs handlers on threads of their own. "Nothing else arrived" is checked
up to a later marker, never after a quiet period: an instance reads the stream in order and
writes to one socket in order, so a later entry's event proves every earlier one was handled."""

from __future__ import annotations

import base64
import time

import msgpack
import pytest

from cluster_helpers import (STREAM, SESSION_PREFIX, STREAM_ID, Client, DemoServer, Monitor, RawSocket,
                             StreamConnection, Subscriber, assert_serving, compact_json, unique)
from conftest import start_cluster
from support.waiting import WAIT, wait_until

RECOVERY_SECONDS = 60
SERVER_ARGS = ["--adapter", "streams", "--recovery", "--recovery-seconds", str(RECOVERY_SECONDS)]
PUBLIC = "socket.io#/#"                 # §B9: requests of namespace "/"; responses to PUBLIC + uid + "#"
NODE_UID = "a1b2c3d4e5f60718"           # the spec's server A: entries written here as a Node instance writes them

# §B8.1: the `data` of io.to("item:42").emit("bid", {amount: 120, user: "u7"}).
SPEC_B81_DATA = ('{"packet":{"type":2,"data":["bid",{"amount":120,"user":"u7"}]},'
                 '"opts":{"rooms":["item:42"],"except":[],"flags":{}}}')
# §B8.2: the `data` of io.to("item:42").emit("photo", Buffer.from([1,2,3])).
SPEC_B82_DATA = "gqZwYWNrZXSCpHR5cGUCpGRhdGGSpXBob3RvxAMBAgOkb3B0c4Olcm9vbXORp2l0ZW06NDKmZXhjZXB0kKVmbGFnc4A="
# §B8.4: the session a Node instance stores for a socket in item:42 with data {userId: 7}.
SPEC_B84_SID, SPEC_B84_PID = "VXN0bTZ5oVNqbmVvAAAB", "Ux7ZpQ2_kSmT4rNiAAAC"
SPEC_B84_VALUE = ("hKNzaWS0VlhOMGJUWjVvVk5xYm1WdkFBQUKjcGlktFV4N1pwUTJfa1NtVDRyTmlBQUFDpXJvb21zkrRWWE4wYlRaNW9WTnFi"
                  "bVZ2QUFBQqdpdGVtOjQypGRhdGGBpnVzZXJJZAc=")

NO_DATA = {"recovered": False, "data": {}}


# ---------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture(scope="module")
def cluster(request, demo_binary, tmp_path_factory):
    # Ready once both stream readers read: a broadcast from each reaches the other.
    yield from start_cluster(request, tmp_path_factory.mktemp("streams"), SERVER_ARGS, ready=crosses)


@pytest.fixture
def raw():
    """raw(server, auth=None, room=None, label=None, connect=True) -> a RawSocket (its CONNECT
    reply read when `connect`); all are closed at teardown."""
    made: list[RawSocket] = []

    def make(server, auth=None, room=None, label=None, connect=True) -> RawSocket:
        r = RawSocket(server, auth=auth, room=room, label=label)
        made.append(r)
        if connect:
            r.connect_reply()
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture
def redis(cluster):
    with StreamConnection(cluster.redis.port) as conn:
        yield conn


@pytest.fixture(scope="module")
def uids(cluster):
    """Each instance's adapter uid, read off an entry of its broadcast."""
    found = {}
    with StreamConnection(cluster.redis.port) as conn:
        for server in cluster.servers:
            c = Client(server, label="uid-probe").connect()
            try:
                room, start = unique("uid"), conn.last_id()
                assert c.call("broadcast", {"room": room, "event": "x", "data": 0}) == "ok"
                found[server.name] = conn.wait_entry(start, lambda e, room=room: room in (e.text("data") or "")).text("uid")
            finally:
                c.close()
    assert found["one"] != found["two"], found
    return found


def crosses(cluster, timeout: float = 0.5) -> bool:
    """A room broadcast from each instance reaches a client of the other (through the stream)."""
    room = unique("cross")
    a = Client(cluster.one, room=room, label="cross@one")
    b = Client(cluster.two, room=room, label="cross@two")
    try:
        a.connect()
        b.connect()
        for sender, receiver in ((a, b), (b, a)):
            token = unique("tok")
            assert sender.call("broadcast", {"room": room, "event": "cross", "data": token}) == "ok"
            try:
                receiver.rec.wait("cross", match=lambda args, token=token: args[0] == token, timeout=timeout)
            except AssertionError:
                return False
        return True
    finally:
        a.close()
        b.close()


def assert_cluster_works(cluster, timeout: float = WAIT) -> None:
    """Both processes alive and serving new clients; broadcasts cross both ways."""
    for server in cluster.servers:
        assert server.alive(), f"demo server {server.name} died:\n{server.log_text()}"
        assert_serving(server)
    wait_until(lambda: crosses(cluster), timeout=timeout, message="broadcasts to cross both ways")


def broadcast_json(event: str, *args, rooms=(), except_=(), flags=None) -> str:
    """A BROADCAST entry's `data` as Node writes it: JSON.stringify({packet, opts})."""
    return compact_json({"packet": {"type": 2, "data": [event, *args]},
                         "opts": {"rooms": list(rooms), "except": list(except_), "flags": flags or {}}})


def broadcast_msgpack(event: str, *args, rooms=(), except_=()) -> str:
    """A BROADCAST entry's `data` with binary, as Node writes it: base64 of @msgpack/msgpack."""
    value = {"packet": {"type": 2, "data": [event, *args]}, "opts": {"rooms": list(rooms), "except": list(except_), "flags": {}}}
    return base64.b64encode(msgpack.packb(value)).decode()


def room_ops_json(sids, rooms) -> str:
    """SOCKETS_JOIN / SOCKETS_LEAVE data: {opts, rooms}."""
    return compact_json({"opts": {"rooms": list(sids), "except": [], "flags": {}}, "rooms": list(rooms)})


def assert_node_flags(flags) -> None:
    """`flags` of a plain room broadcast: Node's BroadcastOperator puts `{}`. A boolean `compress`
    is accepted too (harmless to a Node receiver); `volatile` (any value) would make every Node
    receiver skip the offset, `local` or `timeout` do not belong on a published plain broadcast."""
    assert isinstance(flags, dict) and set(flags) <= {"compress"}, f"flags {flags!r}"
    assert all(isinstance(v, bool) for v in flags.values()), f"flags {flags!r}"


def session_of(redis: StreamConnection, pid: str):
    raw_value = redis.command("GET", SESSION_PREFIX + pid)
    return None if raw_value is None else msgpack.unpackb(base64.b64decode(raw_value, validate=True), raw=False)


def dropped_session(cluster, raw, redis, room: str, user: str = "u7", server=None):
    """A socket on `server` (default one) in `room` with data {"user": user}, that got one
    broadcast and then lost its connection: (sid, pid, the broadcast's offset), once its session
    key is in Redis."""
    a = raw(server or cluster.one, label="to-drop")
    sid, pid = a.sid, a.pid
    assert room in a.call("join", room)
    assert a.call("set-data", {"user": user}) == "ok"
    token = unique("last")
    assert a.call("broadcast", {"room": room, "event": "news", "data": token}) == "ok"
    offset = a.wait_event("news", match=lambda e: e[1] == token)[-1]
    assert isinstance(offset, str) and STREAM_ID.match(offset), offset
    a.drop()
    wait_until(lambda: redis.exists(SESSION_PREFIX + pid), message=f"the session key of {pid} after the drop")
    return sid, pid, offset


def assert_new_socket(c: RawSocket, before, hello, not_sid=None, not_pid=None) -> None:
    """A fresh socket: no events before its CONNECT reply, new ids, not recovered, no data."""
    assert before == [], f"events replayed to a socket that was not restored: {before!r}"
    assert list(hello) == ["sid", "pid"], hello
    assert isinstance(hello["sid"], str) and isinstance(hello["pid"], str), hello
    if not_sid is not None:
        assert hello["sid"] != not_sid, hello
    if not_pid is not None:
        assert hello["pid"] != not_pid, hello
    assert c.call("recovered") == NO_DATA
    assert c.call("rooms") == [hello["sid"]]


# ---------------------------------------------------------------------------
# the spec's vectors, as the test reads them


def test_the_spec_vectors_decode_as_this_module_expects():
    """Guards the test's own codec (the `msgpack` package): the spec's base64 values are exactly
    what it writes for those values, and decode to them."""
    b82 = {"packet": {"type": 2, "data": ["photo", b"\x01\x02\x03"]}, "opts": {"rooms": ["item:42"], "except": [], "flags": {}}}
    assert msgpack.unpackb(base64.b64decode(SPEC_B82_DATA), raw=False) == b82
    assert broadcast_msgpack("photo", b"\x01\x02\x03", rooms=["item:42"]) == SPEC_B82_DATA
    assert broadcast_json("bid", {"amount": 120, "user": "u7"}, rooms=["item:42"]) == SPEC_B81_DATA
    b84 = {"sid": SPEC_B84_SID, "pid": SPEC_B84_PID, "rooms": [SPEC_B84_SID, "item:42"], "data": {"userId": 7}}
    assert len(base64.b64decode(SPEC_B84_VALUE)) == 101
    assert msgpack.unpackb(base64.b64decode(SPEC_B84_VALUE), raw=False) == b84
    assert base64.b64encode(msgpack.packb(b84)).decode() == SPEC_B84_VALUE


# ---------------------------------------------------------------------------
# what we write into the stream


def test_a_room_broadcast_is_one_entry_in_nodes_format(cluster, clients, raw, redis, uids):
    """§B3/§B8.1: `XADD socket.io MAXLEN ~ 10000 * uid U nsp / type 3 data {"packet":…,"opts":…}`,
    fields in that order, the packet without nsp or offset; every receiver, on both instances,
    gets the entry id as the event's last argument."""
    room = "item:42"
    member_one, member_two = raw(cluster.one, room=room, label="m@one"), raw(cluster.two, room=room, label="m@two")
    sender = clients(cluster.one, label="sender@one")
    start = redis.last_id()
    with Monitor(cluster.redis.port) as monitor:
        assert sender.call("broadcast", {"room": room, "event": "bid", "data": {"amount": 120, "user": "u7"}}) == "ok"
        command = monitor.find(lambda args: args[0].upper() == b"XADD" and any(b'"bid"' in a for a in args))
    assert [command[0].upper(), command[1], command[2].upper(), *command[3:6]] == [
        b"XADD", b"socket.io", b"MAXLEN", b"~", b"10000", b"*"], command
    assert command[6::2] == [b"uid", b"nsp", b"type", b"data"], command

    entry = redis.wait_entry(start, lambda e: '"bid"' in (e.text("data") or ""))
    assert entry.names() == ["uid", "nsp", "type", "data"], entry
    assert entry.text("uid") == uids["one"] and entry.text("nsp") == "/" and entry.text("type") == "3", entry
    data = entry.data()
    assert list(data) == ["packet", "opts"], data
    assert data["packet"] == {"type": 2, "data": ["bid", {"amount": 120, "user": "u7"}]}, "no nsp, id or offset in the stored packet"
    assert list(data["packet"]) == ["type", "data"], data
    assert list(data["opts"]) == ["rooms", "except", "flags"], data
    assert data["opts"]["rooms"] == [room] and data["opts"]["except"] == [], data
    assert_node_flags(data["opts"]["flags"])
    if data["opts"]["flags"] == {}:
        assert entry.text("data") == SPEC_B81_DATA, "byte for byte the spec's JSON.stringify text"
    else:
        assert entry.text("data") == broadcast_json("bid", {"amount": 120, "user": "u7"}, rooms=[room],
                                                    flags=data["opts"]["flags"]), entry

    for member in (member_one, member_two):
        assert member.wait_event("bid") == ["bid", {"amount": 120, "user": "u7"}, entry.id], member.label


def test_a_binary_broadcast_is_base64_msgpack_with_bin(cluster, clients, redis):
    """§B8.2: `data` is base64 of msgpack with the bytes as `bin`; clients get bytes and the entry id."""
    room = "item:42"
    member_one, member_two = clients(cluster.one, room=room, label="m@one"), clients(cluster.two, room=room, label="m@two")
    sender = clients(cluster.two, label="sender@two")
    start = redis.last_id()
    assert sender.call("broadcast", {"room": room, "event": "photo", "data": b"\x01\x02\x03"}) == "ok"
    entry = redis.wait_entry(start, lambda e: e.text("type") == "3" and not (e.text("data") or "{").startswith("{"))
    assert entry.names() == ["uid", "nsp", "type", "data"], entry
    data = entry.data()
    assert data["packet"] == {"type": 2, "data": ["photo", b"\x01\x02\x03"]}, data
    assert isinstance(data["packet"]["data"][1], bytes), "bin, not str"
    assert_node_flags(data["opts"]["flags"])
    if data["opts"]["flags"] == {}:
        assert entry.text("data") == SPEC_B82_DATA, "byte for byte the spec's base64"
    for member in (member_one, member_two):
        assert member.rec.wait("photo")[0] == (b"\x01\x02\x03", entry.id), member.label

    # Nested binary, and JSON values beside it, survive the msgpack form.
    nested = {"thumb": b"\xff\x00\x10", "n": 300, "f": 1.5, "s": "héllo", "none": None, "list": [True, b"\x07"]}
    start = redis.last_id()
    assert sender.call("broadcast", {"room": room, "event": "nested", "data": nested}) == "ok"
    entry = redis.wait_entry(start, lambda e: e.text("type") == "3" and not (e.text("data") or "{").startswith("{"))
    assert entry.data()["packet"]["data"] == ["nested", nested], entry.data()
    for member in (member_one, member_two):
        assert member.rec.wait("nested")[0] == (nested, entry.id), member.label


def test_a_direct_emit_with_recovery_is_an_entry_for_the_socket_id(cluster, raw, redis, uids):
    """§B8.1 / A3.2: with recovery on, socket.emit goes through the adapter: an entry with
    opts.rooms = [socket id], whose id is the event's offset."""
    c = raw(cluster.two, label="self@two")
    start = redis.last_id()
    assert c.call("emit-self", "direct") == "ok"
    event = c.wait_event("self")
    entry = redis.wait_entry(start, lambda e: '"self"' in (e.text("data") or ""))
    assert event == ["self", "direct", entry.id], event
    assert entry.text("uid") == uids["two"] and entry.text("type") == "3", entry
    data = entry.data()
    assert data["packet"] == {"type": 2, "data": ["self", "direct"]}, data
    assert data["opts"]["rooms"] == [c.sid] and data["opts"]["except"] == [], data
    assert_node_flags(data["opts"]["flags"])


def test_our_remote_join_leave_and_disconnect_are_entries_in_nodes_format(cluster, clients, raw, redis, uids):
    """§B9: SOCKETS_JOIN (4), SOCKETS_LEAVE (5), DISCONNECT_SOCKETS (6) go into the stream as
    {opts, rooms} / {opts, close}, and act on the other instance's socket."""
    target = raw(cluster.two, label="target@two")
    actor = clients(cluster.one, label="actor@one")
    room = unique("joined")

    def check(entry, type_, rest_key, rest_value):
        assert entry.names() == ["uid", "nsp", "type", "data"], entry
        assert entry.text("uid") == uids["one"] and entry.text("nsp") == "/" and entry.text("type") == type_, entry
        data = entry.data()
        assert list(data) == ["opts", rest_key] and data[rest_key] == rest_value, data
        opts = data["opts"]
        # Node's encodeOptions writes flags too ({} here); without it a Node receiver works the same.
        assert list(opts) in (["rooms", "except", "flags"], ["rooms", "except"]), opts
        assert opts["rooms"] == [target.sid] and opts["except"] == [] and opts.get("flags", {}) == {}, opts

    start = redis.last_id()
    assert actor.call("remote-join", {"target": target.sid, "room": room}) == "ok"
    check(redis.wait_entry(start, lambda e: e.text("type") == "4"), "4", "rooms", [room])
    wait_until(lambda: room in target.call("rooms"), message="the target on two to join")

    start = redis.last_id()
    assert actor.call("remote-leave", {"target": target.sid, "room": room}) == "ok"
    check(redis.wait_entry(start, lambda e: e.text("type") == "5"), "5", "rooms", [room])
    wait_until(lambda: room not in target.call("rooms"), message="the target on two to leave")

    start = redis.last_id()
    assert actor.call("remote-disconnect", {"target": target.sid}) == "ok"
    check(redis.wait_entry(start, lambda e: e.text("type") == "6"), "6", "close", False)
    target.wait_packet(lambda p: p.type == 1)   # DISCONNECT (41) from two


# ---------------------------------------------------------------------------
# what a Node instance writes into the stream


def test_entries_written_by_a_node_instance_reach_our_clients(cluster, clients, redis):
    """JSON and base64-msgpack (bin, nested) entries from another uid reach the room's clients on
    both instances with their entry id; fields are read by name, not position; a client outside
    the room gets none of them (checked up to a later entry to its room)."""
    room, elsewhere = unique("node"), unique("elsewhere")
    a, b = clients(cluster.one, room=room, label="a@one"), clients(cluster.two, room=room, label="b@two")
    outsider = clients(cluster.one, room=elsewhere, label="outsider@one")
    ids = {
        "bid": redis.entry(NODE_UID, "3", broadcast_json("bid", {"amount": 130, "user": "u9"}, rooms=[room])),
        "photo": redis.entry(NODE_UID, "3", broadcast_msgpack("photo", b"\x01\x02\x03", {"thumb": b"\xff\x00\x10"}, rooms=[room])),
        "spec": redis.entry(NODE_UID, "3", base64.b64encode(msgpack.packb(
            {"packet": {"type": 2, "data": ["spec", b"\x01\x02\x03"]},
             "opts": {"rooms": [room], "except": [], "flags": {}}})).decode()),
        "reordered": redis.xadd([("data", broadcast_json("reordered", 1, rooms=[room])), ("type", "3"),
                                 ("nsp", "/"), ("uid", NODE_UID)]),
    }
    marker = redis.entry(NODE_UID, "3", broadcast_json("marker", rooms=[room, elsewhere]))
    expected = {"bid": ({"amount": 130, "user": "u9"},), "photo": (b"\x01\x02\x03", {"thumb": b"\xff\x00\x10"}),
                "spec": (b"\x01\x02\x03",), "reordered": (1,)}
    for c in (a, b):
        for name, args in expected.items():
            assert c.rec.wait(name)[0] == (*args, ids[name]), (c.label, name)
    outsider.rec.wait("marker", match=lambda args: args == (marker,))
    outsider.settle()
    assert [ev for ev in outsider.rec.names() if ev not in ("connect", "welcome", "marker")] == [], outsider.rec.events


def test_an_entry_with_an_instances_own_uid_is_ignored_by_that_instance_only(cluster, raw, redis, uids):
    """ClusterAdapter drops its own uid: an entry carrying one's uid reaches two's clients only."""
    room = unique("own")
    w1, w2 = raw(cluster.one, room=room, label="w@one"), raw(cluster.two, room=room, label="w@two")
    own = redis.entry(uids["one"], "3", broadcast_json("own-uid", rooms=[room]))
    marker = redis.entry(NODE_UID, "3", broadcast_json("marker", rooms=[room]))
    assert w2.wait_event("own-uid") == ["own-uid", own]
    w1.wait_event("marker")
    assert [e[0] for e in w1.events() if e[0] != "welcome"] == ["marker"], w1.events()
    w2.wait_event("marker")
    assert [e[1:] for e in w2.events() if e[0] != "welcome"] == [[own], [marker]], w2.events()


def test_hand_written_join_leave_and_disconnect_act_on_our_sockets(cluster, raw, redis):
    """SOCKETS_JOIN (4) then BROADCAST (3) to the new room reaches the joined sockets on both
    instances; after SOCKETS_LEAVE (5) a broadcast there does not (up to a later marker);
    DISCONNECT_SOCKETS (6) disconnects only its target."""
    a, b = raw(cluster.one, label="a@one"), raw(cluster.two, label="b@two")
    new = unique("new-room")
    redis.entry(NODE_UID, "4", room_ops_json([a.sid, b.sid], [new]))
    first = redis.entry(NODE_UID, "3", broadcast_json("in-new-room", 1, rooms=[new]))
    for c in (a, b):
        assert c.wait_event("in-new-room") == ["in-new-room", 1, first], c.label
        assert new in c.call("rooms"), c.label

    redis.entry(NODE_UID, "5", room_ops_json([a.sid], [new]))
    left = redis.entry(NODE_UID, "3", broadcast_json("after-leave", rooms=[new]))
    marker = redis.entry(NODE_UID, "3", broadcast_json("marker", rooms=[a.sid, b.sid]))
    assert b.wait_event("after-leave") == ["after-leave", left]
    for c in (a, b):
        assert c.wait_event("marker") == ["marker", marker], c.label
    assert "after-leave" not in [e[0] for e in a.events()], a.events()
    assert new not in a.call("rooms") and new in b.call("rooms")

    redis.entry(NODE_UID, "6", compact_json({"opts": {"rooms": [b.sid], "except": [], "flags": {}}, "close": False}))
    marker = redis.entry(NODE_UID, "3", broadcast_json("marker2", rooms=[a.sid]))
    b.wait_packet(lambda p: p.type == 1)
    assert a.wait_event("marker2") == ["marker2", marker]
    assert not any(p.type == 1 for p in a.packets), a.packets
    assert a.call("rooms") == [a.sid]


# ---------------------------------------------------------------------------
# across instances


BURST = 200


def test_broadcasts_cross_instances_in_order_and_the_server_count_is_numsub(cluster, clients, raw, redis, uids):
    """BURST broadcasts sent back to back on one: the clients of both instances get all of them
    once, in the stream's order, with the same offsets (the entry ids, rising); that is the order
    they were sent in. server-count is 2 = NUMSUB socket.io#/#, and each uid's own channel has
    its one subscriber."""
    room = unique("order")
    r1, r2 = raw(cluster.one, room=room, label="r@one"), raw(cluster.two, room=room, label="r@two")
    sender = raw(cluster.one, label="sender@one")
    start = redis.last_id()
    acks = [sender.send_event("broadcast", {"room": room, "event": "seq", "data": n}) for n in range(BURST)]
    for ack in acks:
        assert sender.wait_ack(ack, timeout=15) == ["ok"]
    seen = {}
    for r in (r1, r2):
        r.wait_event("seq", match=lambda e: e[1] == BURST - 1, timeout=15)
        seen[r.label] = r.events("seq")
    entries = [e for e in redis.entries_after(start) if room in (e.text("data") or "")]
    stream_order = [(e.data()["packet"]["data"][1], e.id) for e in entries]
    for label, got in seen.items():
        assert [(e[1], e[2]) for e in got] == stream_order, f"{label} did not get the stream's entries once each in order"
    ids = [entry_id for _, entry_id in stream_order]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-")))) and len(set(ids)) == BURST, ids
    assert [n for n, _ in stream_order] == list(range(BURST)), "one socket's broadcasts were written out of order"

    for server in cluster.servers:
        assert clients(server, label=f"count@{server.name}").call("server-count") == 2
    assert cluster.redis.numsub(PUBLIC) == 2
    for name, uid in uids.items():
        assert cluster.redis.numsub(f"{PUBLIC}{uid}#") == 1, f"{name}'s response channel"


def test_requests_and_ack_broadcasts_are_msgpack_on_pubsub_not_entries(cluster, clients, redis, uids):
    """§B9: a broadcast with acks, serverSideEmit and fetchSockets are published to socket.io#/#
    as msgpack {type, data, uid, nsp}; the answers go to socket.io#/#<requester uid>#; none of
    it goes into the stream."""
    room = unique("eph")
    member = clients(cluster.two, room=room, acks={"q": lambda *args: "b"}, label="member@two")
    actor = clients(cluster.one, label="actor@one")
    start = redis.last_id()
    mine = f"{PUBLIC}{uids['one']}#"

    def envelope(payload, type_, uid):
        assert payload[:1] != b"{", f"JSON where msgpack was expected: {payload[:200]!r}"
        message = msgpack.unpackb(payload, raw=False)
        assert list(message) == ["type", "data", "uid", "nsp"], message
        assert message["type"] == type_ and message["uid"] == uid and message["nsp"] == "/", message
        return message["data"]

    with Subscriber(cluster.redis.port) as sub:
        # A pattern (without wildcards) for the public channel: NUMSUB, the server count, does
        # not count it, so the requester still waits for one answer only.
        sub.psubscribe(PUBLIC)
        sub.subscribe(mine)
        result = actor.call("broadcast-ack", {"room": room, "event": "q", "data": 1}, timeout=8)
        assert result == {"responses": ["b"], "error": None}, result
        (ch, request, _), = sub.collect(lambda ch, p: ch == PUBLIC)
        data = envelope(request, 3, uids["one"])
        assert list(data) == ["packet", "requestId", "opts"], data
        assert data["packet"] == {"type": 2, "data": ["q", 1]}, data
        assert data["opts"]["rooms"] == [room] and data["opts"]["except"] == [], data
        assert set(data["opts"]["flags"]) <= {"timeout", "compress"} and data["opts"]["flags"].get("timeout", 2000) == 2000, data
        rid = data["requestId"]
        answers = sorted((msgpack.unpackb(p, raw=False)["type"], p) for _, p, _ in sub.collect(lambda ch, p: ch == mine, count=2))
        assert [t for t, _ in answers] == [11, 12], answers
        count, ack = (envelope(p, t, uids["two"]) for t, p in answers)
        assert count == {"requestId": rid, "clientCount": 1}, count
        assert ack == {"requestId": rid, "packet": "b"}, ack
        assert member.rec.all("q") == [(1,)], "an ack broadcast carries no offset"

        assert actor.call("server-side-emit", "a", 1) == "ok"
        (_, payload, _), = sub.collect(lambda ch, p: ch == PUBLIC)
        assert envelope(payload, 9, uids["one"]) == {"packet": ["hello", "a", 1]}
        member.rec.wait("server-side")

        assert actor.call("server-side-emit-ack", "z", timeout=8) == ["hello from two"]
        (_, payload, _), = sub.collect(lambda ch, p: ch == PUBLIC)
        data = envelope(payload, 9, uids["one"])
        assert set(data) == {"packet", "requestId"} and data["packet"] == ["hello", "z"], data
        (_, payload, _), = sub.collect(lambda ch, p: ch == mine)
        assert envelope(payload, 10, uids["two"]) == {"requestId": data["requestId"], "packet": "hello from two"}

        sockets = actor.call("fetch-sockets", room, timeout=8)
        assert [s["id"] for s in sockets] == [member.sid], sockets
        (_, payload, _), = sub.collect(lambda ch, p: ch == PUBLIC)
        data = envelope(payload, 7, uids["one"])
        assert list(data) == ["opts", "requestId"] and data["opts"]["rooms"] == [room], data
        (_, payload, _), = sub.collect(lambda ch, p: ch == mine)
        answer = envelope(payload, 8, uids["two"])
        assert answer["requestId"] == data["requestId"] and [s["id"] for s in answer["sockets"]] == [member.sid], answer

    # A plain broadcast after all that: its entry is the only one since `start`.
    assert actor.call("broadcast", {"room": room, "event": "plain", "data": 0}) == "ok"
    redis.wait_entry(start, lambda e: '"plain"' in (e.text("data") or ""))
    entries = redis.entries_after(start)
    assert [(e.text("type"), e.data()["packet"]["data"][0]) for e in entries] == [("3", "plain")], entries


def test_requests_in_nodes_format_are_answered_on_the_requesters_channel(cluster, clients):
    """FETCH_SOCKETS, SERVER_SIDE_EMIT with ack and BROADCAST with ack, published by hand as
    msgpack from a made-up uid: each instance answers on socket.io#/#<uid>#, as msgpack."""
    room = unique("byhand")
    a = clients(cluster.one, room=room, acks={"ping": lambda *args: "pong-a"}, label="a@one")
    b = clients(cluster.two, room=room, acks={"ping": lambda *args: "pong-b"}, label="b@two")
    uid = "0123456789abcdef"
    opts = {"rooms": [room], "except": [], "flags": {}}

    def publish(type_, data):
        return cluster.redis.publish(PUBLIC, msgpack.packb({"type": type_, "data": data, "uid": uid, "nsp": "/"}))

    with Subscriber(cluster.redis.port) as sub:
        sub.subscribe(f"{PUBLIC}{uid}#")

        def answers(count):
            return [msgpack.unpackb(p, raw=False) for _, p, _ in sub.collect(lambda ch, p: True, count=count)]

        assert publish(7, {"opts": opts, "requestId": "fedcba9876543210"}) == 2
        got = answers(2)
        assert all(g["type"] == 8 and g["nsp"] == "/" and g["data"]["requestId"] == "fedcba9876543210" for g in got), got
        assert sorted(s["id"] for g in got for s in g["data"]["sockets"]) == sorted([a.sid, b.sid]), got

        assert publish(9, {"requestId": "00112233445566ff", "packet": ["hello", "by hand"]}) == 2
        got = answers(2)
        assert {g["type"] for g in got} == {10}, got
        assert sorted(g["data"]["packet"] for g in got) == ["hello from one", "hello from two"], got

        assert publish(3, {"packet": {"type": 2, "data": ["ping", 1]}, "requestId": "aa00bb11cc22dd33",
                           "opts": {"rooms": [room], "except": [], "flags": {"timeout": 2000}}}) == 2
        got = answers(4)
        counts = sorted(g["data"]["clientCount"] for g in got if g["type"] == 11)
        acks = sorted(g["data"]["packet"] for g in got if g["type"] == 12)
        assert counts == [1, 1] and acks == ["pong-a", "pong-b"], got
    for c in (a, b):
        assert c.rec.all("ping") == [(1,)], c.label


# ---------------------------------------------------------------------------
# connection state recovery


def test_a_socket_dropped_on_one_recovers_on_two_with_what_it_missed(cluster, raw, redis, measure):
    """The client loses its TCP connection to one; its session is SET in Redis in Node's format
    (base64 msgpack {sid,pid,rooms,data}, PX); meanwhile two broadcasts to its room. Reconnecting
    to two with {pid, offset}: before the CONNECT reply (same sid and pid) every missed event of
    its rooms once, in order, with the offsets a live member saw; none of another room or one
    that excepts its room; the key is consumed; then it is in its room again on two."""
    room, other = unique("item"), unique("other")
    a = raw(cluster.one, label="a@one")
    assert list(a.hello) == ["sid", "pid"] and a.sid != a.pid, a.hello
    sid, pid = a.sid, a.pid
    assert room in a.call("join", room)
    assert a.call("set-data", {"user": "u7"}) == "ok"
    watcher = raw(cluster.one, room=room, label="watcher@one")
    sender = raw(cluster.two, label="sender@two")
    assert sender.call("broadcast", {"room": room, "event": "news", "data": 1}) == "ok"
    offset = a.wait_event("news", match=lambda e: e[1] == 1)[-1]
    assert STREAM_ID.match(offset), offset

    dropped_at = time.monotonic()
    a.drop()
    assert sender.call("broadcast", {"room": room, "event": "news", "data": 2}) == "ok"   # maybe before one sees the drop
    key = SESSION_PREFIX + pid
    wait_until(lambda: redis.exists(key), message="the session key after the drop")
    measure(f"streams adapter: session key in Redis {time.monotonic() - dropped_at:.2f} s after the TCP drop")
    value = redis.command("GET", key)
    session = msgpack.unpackb(base64.b64decode(value, validate=True), raw=False)
    assert list(session) == ["sid", "pid", "rooms", "data"], session
    assert session["sid"] == sid and session["pid"] == pid and session["data"] == {"user": "u7"}, session
    assert sorted(session["rooms"]) == sorted([sid, room]), session
    assert 0 < redis.command("PTTL", key) <= RECOVERY_SECONDS * 1000

    assert sender.call("broadcast", {"room": room, "event": "news", "data": 3}) == "ok"
    assert sender.call("broadcast", {"room": other, "event": "news", "data": "other room"}) == "ok"
    assert sender.call("broadcast", {"room": room, "except": room, "event": "news", "data": "excepted"}) == "ok"
    assert sender.call("broadcast", {"room": sid, "event": "news", "data": "to its id"}) == "ok"
    watcher.wait_event("news", match=lambda e: e[1] == 3)
    live = {e[1]: e[2] for e in watcher.events("news")}
    marker = redis.wait_entry(offset, lambda e: '"to its id"' in (e.text("data") or ""))

    b = raw(cluster.two, auth={"pid": pid, "offset": offset, "user": "u7"}, label="a-again@two", connect=False)
    before, hello = b.connect_reply()
    assert hello == {"sid": sid, "pid": pid}, hello
    assert [e[:2] for e in before] == [["news", 2], ["news", 3], ["news", "to its id"]], before
    assert [e[2] for e in before] == [live[2], live[3], marker.id], before
    assert not redis.exists(key), "the session is consumed by the restore"
    assert b.call("recovered") == {"recovered": True, "data": {"user": "u7"}}
    assert b.call("rooms") == sorted([sid, room])

    # New events flow, from either instance, exactly once (no live copy of the replayed ones).
    fresh = raw(cluster.one, label="fresh@one")
    assert fresh.call("broadcast", {"room": room, "event": "news", "data": 4}) == "ok"
    b.wait_event("news", match=lambda e: e[1] == 4)
    assert sender.call("broadcast", {"room": room, "event": "news", "data": 5}) == "ok"
    b.wait_event("news", match=lambda e: e[1] == 5)
    assert [e[1] for e in b.events("news")] == [2, 3, "to its id", 4, 5], b.events()
    sockets = fresh.call("fetch-sockets", room, timeout=8)
    assert [(s["id"], s["rooms"], s["data"]) for s in sockets if s["id"] != watcher.sid] == [
        (sid, sorted([sid, room]), {"user": "u7"})], sockets


def test_a_session_stored_by_a_node_instance_is_restored_here(cluster, raw, redis):
    """§B8.4's SET value, with an entry to serve as the offset and later entries: a client with
    {pid, offset} gets, before the CONNECT reply with the stored sid, the later type-3 entries of
    its rooms and namespace (JSON and binary; rooms [] means everyone) with their ids, not those
    of other rooms, excepting its room, of another namespace, nor room operations."""
    room = "item:42"
    offset = redis.entry(NODE_UID, "3", broadcast_json("before", rooms=[unique("elsewhere")]))
    missed = redis.entry(NODE_UID, "3", broadcast_json("bid", {"amount": 140, "user": "u7"}, rooms=[room]))
    redis.entry(NODE_UID, "3", broadcast_json("bid", {"amount": 0}, rooms=[unique("other")]))
    redis.entry(NODE_UID, "3", broadcast_json("bid", {"amount": -1}, rooms=[room]), nsp="/custom")
    redis.entry(NODE_UID, "4", room_ops_json([unique("nobody")], ["x"]))
    binary = redis.entry(NODE_UID, "3", broadcast_msgpack("photo", b"\x01\x02\x03", rooms=[SPEC_B84_SID]))
    redis.entry(NODE_UID, "3", broadcast_json("bid", {"amount": -2}, except_=[room]))
    everyone = redis.entry(NODE_UID, "3", broadcast_json("all", "x"))
    assert redis.command("SET", SESSION_PREFIX + SPEC_B84_PID, SPEC_B84_VALUE, "PX", "60000") == "OK"

    c = raw(cluster.one, auth={"pid": SPEC_B84_PID, "offset": offset}, label="node-session@one", connect=False)
    before, hello = c.connect_reply()
    assert hello == {"sid": SPEC_B84_SID, "pid": SPEC_B84_PID}, hello
    assert before == [["bid", {"amount": 140, "user": "u7"}, missed], ["photo", b"\x01\x02\x03", binary],
                      ["all", "x", everyone]], before
    assert c.call("recovered") == {"recovered": True, "data": {"userId": 7}}
    assert c.call("rooms") == sorted([SPEC_B84_SID, room])
    assert not redis.exists(SESSION_PREFIX + SPEC_B84_PID)
    live = redis.entry(NODE_UID, "3", broadcast_json("live", rooms=[room]))
    assert c.wait_event("live") == ["live", live]


def test_a_session_with_richer_data_encoded_here_is_restored_on_two(cluster, raw, redis):
    """A session msgpack'd by the test (@msgpack/msgpack's formats: float64, uint64, nil, nested)
    comes back on two with that data, and the auth's user matching data.user."""
    sid, pid, room = "AAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBB", unique("rich")
    data = {"user": "u7", "score": 1.5, "big": 2 ** 40, "neg": -300, "none": None, "tags": ["a", "b"], "deep": {"x": {"y": [1]}}}
    value = base64.b64encode(msgpack.packb({"sid": sid, "pid": pid, "rooms": [sid, room], "data": data})).decode()
    offset = redis.entry(NODE_UID, "3", broadcast_json("before", rooms=[room]))
    missed = redis.entry(NODE_UID, "3", broadcast_json("after", 1, rooms=[room]))
    assert redis.command("SET", SESSION_PREFIX + pid, value, "PX", "60000") == "OK"
    c = raw(cluster.two, auth={"pid": pid, "offset": offset, "user": "u7"}, connect=False)
    before, hello = c.connect_reply()
    assert hello == {"sid": sid, "pid": pid} and before == [["after", 1, missed]], (before, hello)
    assert c.call("recovered") == {"recovered": True, "data": data}


def test_malformed_entries_are_dropped_and_reading_goes_on(cluster, raw, redis):
    """Entries a Node reader would skip (no nsp, undecodable data, unknown or non-numeric type,
    another namespace) or that have a broadcast's type but not its shape: nothing reaches the
    room's clients on either instance, and the good entry written after them arrives. (Node's
    decodeOptions throws on a missing `opts` or numeric `rooms`, and makes a string `rooms` a set
    of one-character rooms: never a broadcast to everyone.)"""
    room = unique("bad")
    w1, w2 = raw(cluster.one, room=room, label="w@one"), raw(cluster.two, room=room, label="w@two")
    good = broadcast_json("should-not-arrive", rooms=[room])
    bad = [
        [("uid", NODE_UID), ("type", "3"), ("data", good)],                                     # no nsp
        [("uid", NODE_UID), ("nsp", "/"), ("type", "abc"), ("data", good)],
        [("uid", NODE_UID), ("nsp", "/"), ("type", "99"), ("data", good)],
        [("uid", NODE_UID), ("nsp", "/"), ("type", ""), ("data", good)],
        [("uid", NODE_UID), ("nsp", "/"), ("type", "1")],                                        # 0.2.x heartbeats
        [("uid", NODE_UID), ("nsp", "/"), ("type", "2")],
        [("uid", NODE_UID), ("nsp", "/"), ("type", "3")],                                        # no data
        [("uid", NODE_UID), ("nsp", "/"), ("type", "3"), ("data", "not base64!!")],
        [("uid", NODE_UID), ("nsp", "/"), ("type", "3"), ("data", "{broken json")],
        [("uid", NODE_UID), ("nsp", "/"), ("type", "3"), ("data", base64.b64encode(b"\xc1\xc1 garbage \xff").decode())],
        [("uid", NODE_UID), ("nsp", "/"), ("type", "3"), ("data", base64.b64encode(b"\xdb\xff\xff\xff\xff").decode())],
        [("uid", NODE_UID), ("nsp", "/"), ("type", "3"), ("data", base64.b64encode(msgpack.packb([1, 2, 3])).decode())],
        [("uid", NODE_UID), ("nsp", "/"), ("type", "3"), ("data", base64.b64encode(b"\x91" * 100_000 + b"\xc0").decode())],
        [("uid", NODE_UID), ("nsp", "/"), ("type", "3"), ("data", '{"packet":' + "[" * 100_000 + "]" * 100_000 + "}")],
        [("uid", NODE_UID), ("nsp", "/"), ("type", "3"), ("data", b"{\xff\xfe}")],
        [("uid", NODE_UID), ("nsp", "/"), ("type", "3"), ("data", "{}")],
        [("uid", NODE_UID), ("nsp", "/"), ("type", "3"), ("data", compact_json({"packet": {"type": 2, "data": "x"},
                                                                                "opts": {"rooms": [room], "except": []}}))],
        [("uid", NODE_UID), ("nsp", "/"), ("type", "3"), ("data", compact_json({"packet": {"type": 2, "data": ["no opts"]}}))],
        [("uid", NODE_UID), ("nsp", "/"), ("type", "3"), ("data", compact_json({"packet": {"type": 2, "data": ["bad rooms"]},
                                                                                "opts": {"rooms": room, "except": []}}))],
        [("uid", NODE_UID), ("nsp", "/"), ("type", "3"), ("data", compact_json({"packet": {"type": 2, "data": ["null opts"]},
                                                                                "opts": None}))],
        [("uid", NODE_UID), ("nsp", "/"), ("type", "3"), ("data", compact_json({"packet": {"type": 2, "data": ["numeric rooms"]},
                                                                                "opts": {"rooms": 5, "except": []}}))],
        [("uid", NODE_UID), ("nsp", "/nope"), ("type", "3"), ("data", good)],
        [("uid", NODE_UID), ("nsp", "/"), ("type", "3"), ("data", base64.b64encode(bytes(range(256)) * 4000).decode())],
    ]
    for fields in bad:
        redis.xadd(fields)
    marker = redis.entry(NODE_UID, "3", broadcast_json("good", 1, rooms=[room]))
    for w in (w1, w2):
        assert w.wait_event("good", timeout=10) == ["good", 1, marker], w.label
        assert [e[0] for e in w.events()] == ["welcome", "good"], f"{w.label} got events from malformed entries: {w.events()!r}"
    assert_cluster_works(cluster)


BAD_PIDS = [
    pytest.param("A" * 100_000, id="100kB"),
    pytest.param("../../etc/passwd", id="path"),
    pytest.param("*", id="glob"),
    pytest.param("x\r\nDEL socket.io\r\n", id="crlf"),
    pytest.param("\u0000\uffff\u00e9", id="control-chars"),
    pytest.param("", id="empty"),
    pytest.param(12345, id="number"),
    pytest.param({"pid": "x"}, id="object"),
    pytest.param(None, id="null"),
]


@pytest.mark.parametrize("pid", BAD_PIDS)
def test_a_bad_pid_gets_a_new_socket(cluster, raw, redis, pid):
    offset = redis.entry(NODE_UID, "3", broadcast_json("x", rooms=[unique("r")]))   # a real offset
    c = raw(cluster.one, auth={"pid": pid, "offset": offset}, connect=False)
    before, hello = c.connect_reply()
    assert_new_socket(c, before, hello, not_pid=pid)
    assert redis.exists(STREAM)
    assert_serving(cluster.one)


BAD_OFFSETS = [
    pytest.param("abc", id="abc"),
    pytest.param("1-2-3", id="1-2-3"),
    pytest.param("99999999999999-0", id="future"),
    pytest.param("9" * 10_000 + "-0", id="10kB"),
    pytest.param("0-0", id="0-0"),
    pytest.param("-1-0", id="negative"),
    pytest.param(" 1-0", id="space"),
    pytest.param("1-0\r\nDEL socket.io", id="crlf"),
    pytest.param("18446744073709551616-0", id="ms-over-u64"),
    pytest.param("18446744073709551615-18446744073709551615", id="max-id"),
    pytest.param("", id="empty"),
    pytest.param(42, id="number"),
    pytest.param(None, id="null"),
]


@pytest.mark.parametrize("offset", BAD_OFFSETS)
def test_a_bad_offset_gets_a_new_socket(cluster, raw, redis, offset):
    """A real session (the pid is good, its user too), presented with an offset that is not an
    entry of the stream: a new socket, nothing replayed; both instances keep serving."""
    sid, pid, _ = dropped_session(cluster, raw, redis, unique("bad-offset"))
    c = raw(cluster.two, auth={"pid": pid, "offset": offset, "user": "u7"}, connect=False)
    before, hello = c.connect_reply()
    assert_new_socket(c, before, hello, not_sid=sid, not_pid=pid)
    assert redis.exists(STREAM)
    for server in cluster.servers:
        assert_serving(server)


def test_an_offset_with_the_largest_sequence_number_is_answered(cluster, raw, redis, measure):
    """The offset is a real entry `<ms>-18446744073709551615`, so the next id to scan from is not
    `<ms>-(seq+1)` (Node's nextOffset writes an id Redis refuses, and gets a new socket): the
    server answers either way and survives; if it restores, it replays the later entry once."""
    room = unique("maxseq")
    sid, pid, _ = dropped_session(cluster, raw, redis, room)
    ms = max(int(redis.last_id().split("-")[0]), int(time.time() * 1000)) + 1
    offset = redis.entry(NODE_UID, "3", broadcast_json("edge", rooms=[unique("r")]), entry_id=f"{ms}-18446744073709551615")
    later = redis.entry(NODE_UID, "3", broadcast_json("later", rooms=[room]))
    c = raw(cluster.two, auth={"pid": pid, "offset": offset, "user": "u7"}, connect=False)
    before, hello = c.connect_reply()
    if hello["sid"] == sid:
        assert before == [["later", later]], before
        measure("streams adapter: an offset <ms>-<u64 max> restores (the scan goes on at <ms+1>-0)")
    else:
        assert_new_socket(c, before, hello, not_sid=sid, not_pid=pid)
        measure("streams adapter: an offset <ms>-<u64 max> gets a new socket (as Node)")
    assert_cluster_works(cluster)


def test_another_user_presenting_the_pid_gets_a_new_socket_and_no_missed_events(cluster, raw, redis, measure):
    """The demo's shouldRestore: data.user u7 kept, auth.user u8 presented with the right pid and
    offset: a new socket, none of the missed events, not in the room."""
    room = unique("secret")
    sid, pid, offset = dropped_session(cluster, raw, redis, room)
    sender = raw(cluster.one, label="sender@one")
    assert sender.call("broadcast", {"room": room, "event": "news", "data": "secret"}) == "ok"
    thief = raw(cluster.two, auth={"pid": pid, "offset": offset, "user": "u8"}, label="thief@two", connect=False)
    before, hello = thief.connect_reply()
    assert_new_socket(thief, before, hello, not_sid=sid, not_pid=pid)
    # Not asserted (Node has no shouldRestore to compare with): whether the owner still can.
    owner = raw(cluster.one, auth={"pid": pid, "offset": offset, "user": "u7"}, label="owner@one", connect=False)
    before, hello = owner.connect_reply()
    outcome = ("still recovers" if hello["sid"] == sid else
               "gets a new socket: the refused restore consumed the session (GET+DEL before shouldRestore)")
    measure(f"streams adapter: after another user's refused restore, the owner {outcome}")


# ---------------------------------------------------------------------------
# recovery off


@pytest.fixture
def plain(cluster):
    """A third instance on the module's Redis, streams adapter without --recovery."""
    server = DemoServer("plain", cluster.redis.url, cluster.base / f"plain-{unique('p')}.log", extra_args=["--adapter", "streams"])
    server.start()
    try:
        probe = Client(server, label="plain-probe").connect()
        try:
            wait_until(lambda: probe.call("server-count") == 3, timeout=15, message="plain to count 3 servers")
        finally:
            probe.close()
        yield server
    finally:
        code = server.stop()
        assert code is None, f"the plain instance exited by itself with {code}:\n{server.log_text()}"


def test_without_recovery_no_pid_and_no_offsets(cluster, raw, redis, plain):
    """A streams instance without --recovery: CONNECT has no pid; its events carry no offset,
    neither its own broadcasts nor the stream's; its direct emits are not entries; a {pid, offset}
    it is given is left alone (the session key stays for the owner). An instance with recovery
    still adds the offset to the plain instance's broadcasts."""
    room = unique("plain")
    p = raw(plain, room=room, label="c@plain")
    assert list(p.hello) == ["sid"], p.hello
    assert p.wait_event("welcome")[2:] == [], "a direct emit without recovery carries no offset"
    r = raw(cluster.one, room=room, label="c@one")

    def reads_the_stream() -> bool:
        token = unique("ready")
        redis.entry(NODE_UID, "3", broadcast_json("ready", token, rooms=[room]))
        try:
            p.wait_event("ready", match=lambda e: e[1] == token, timeout=0.5)
            return True
        except AssertionError:
            return False

    wait_until(reads_the_stream, timeout=10, message="the plain instance's stream reader to read")

    start = redis.last_id()
    assert p.call("broadcast", {"room": room, "event": "e", "data": 1}) == "ok"
    entry = redis.wait_entry(start, lambda e: '"e"' in (e.text("data") or ""))
    assert entry.names() == ["uid", "nsp", "type", "data"] and entry.data()["packet"]["data"] == ["e", 1], entry
    assert p.wait_event("e", match=lambda e: e[1] == 1) == ["e", 1]
    assert r.wait_event("e", match=lambda e: e[1] == 1) == ["e", 1, entry.id]
    assert r.call("broadcast", {"room": room, "event": "e", "data": 2}) == "ok"
    assert p.wait_event("e", match=lambda e: e[1] == 2) == ["e", 2]
    hand = redis.entry(NODE_UID, "3", broadcast_json("e", 3, rooms=[room]))
    assert p.wait_event("e", match=lambda e: e[1] == 3) == ["e", 3]
    assert r.wait_event("e", match=lambda e: e[1] == 3) == ["e", 3, hand]

    start = redis.last_id()
    assert p.call("emit-self", "direct") == "ok"
    assert p.wait_event("self") == ["self", "direct"]
    assert p.call("broadcast", {"room": room, "event": "after-self", "data": 0}) == "ok"
    redis.wait_entry(start, lambda e: '"after-self"' in (e.text("data") or ""))
    assert not any('"self"' in (e.text("data") or "") for e in redis.entries_after(start)), "a direct emit became an entry"

    sid, pid, offset = dropped_session(cluster, raw, redis, unique("kept"))
    q = raw(plain, auth={"pid": pid, "offset": offset, "user": "u7"}, label="q@plain", connect=False)
    before, hello = q.connect_reply()
    assert before == [] and list(hello) == ["sid"] and hello["sid"] != sid, (before, hello)
    assert redis.exists(SESSION_PREFIX + pid), "an instance without recovery consumed a session"
    owner = raw(cluster.one, auth={"pid": pid, "offset": offset, "user": "u7"}, connect=False)
    assert owner.connect_reply()[1] == {"sid": sid, "pid": pid}


# ---------------------------------------------------------------------------
# the reader and its Redis connection


def killed_readers_come_back(redis: StreamConnection, killed: set[str], timeout: float = 10) -> float:
    """Waits until at least two XREAD connections not in `killed` exist (one per instance);
    returns how long it took."""
    started = time.monotonic()
    wait_until(lambda: len([c for c in redis.xread_clients() if c["id"] not in killed]) >= 2, timeout=timeout,
               message="both instances' stream readers to reconnect")
    return time.monotonic() - started


def assert_every_entry_once_in_order(watchers, name: str, ids: list[str]) -> None:
    for w in watchers:
        w.wait_event(name, match=lambda e: e[-1] == ids[-1], timeout=15)
        got = w.events(name)
        assert [e[1] for e in got] == list(range(len(ids))), f"{w.label}: {[e[1] for e in got]}"
        assert [e[2] for e in got] == ids, f"{w.label}: offsets differ from the entry ids"


ROUNDS, PER_PHASE = 5, 10


def test_the_reader_resumes_after_its_connection_is_killed(cluster, raw, redis, measure):
    """Entries XADDed while the servers' XREAD connections are killed by id, five times (some
    while the readers are down, some after they are back): each reaches the room's clients on
    both instances exactly once, in order, with its id."""
    room = unique("killed")
    watchers = [raw(cluster.one, room=room, label="w@one"), raw(cluster.two, room=room, label="w@two")]
    wait_until(lambda: len(redis.xread_clients()) >= 2, message="two XREAD connections")
    ids, times = [], []

    def add():
        ids.append(redis.entry(NODE_UID, "3", broadcast_json("tick", len(ids), rooms=[room])))

    for _ in range(ROUNDS):
        readers = redis.xread_clients()
        assert len(readers) >= 2, readers
        for c in readers:
            redis.command("CLIENT", "KILL", "ID", c["id"])
        for _ in range(PER_PHASE):
            add()
        times.append(killed_readers_come_back(redis, {c["id"] for c in readers}))
        for _ in range(PER_PHASE):
            add()
    assert_every_entry_once_in_order(watchers, "tick", ids)
    measure(f"streams adapter: XREAD connection back after CLIENT KILL ID in "
            f"{', '.join(f'{t:.2f}' for t in times)} s")
    assert_cluster_works(cluster)


def test_the_reader_resumes_after_client_kill_type_normal(cluster, raw, redis, measure):
    """CLIENT KILL TYPE normal (every connection but subscribers and this one: the readers and the
    command connections), three times, with entries XADDed meanwhile: every entry once and in
    order; then broadcasts cross again and the server count is back."""
    room = unique("killall")
    watchers = [raw(cluster.one, room=room, label="w@one"), raw(cluster.two, room=room, label="w@two")]
    wait_until(lambda: len(redis.xread_clients()) >= 2, message="two XREAD connections")
    ids, times = [], []
    for _ in range(3):
        before = {c["id"] for c in redis.clients()}
        assert redis.command("CLIENT", "KILL", "TYPE", "normal") >= 2
        for _ in range(PER_PHASE):
            ids.append(redis.entry(NODE_UID, "3", broadcast_json("tock", len(ids), rooms=[room])))
        times.append(killed_readers_come_back(redis, before))
    assert_every_entry_once_in_order(watchers, "tock", ids)
    started = time.monotonic()
    assert_cluster_works(cluster, timeout=10)
    for server in cluster.servers:
        probe = Client(server, label="count-probe").connect()
        try:
            wait_until(lambda: probe.call("server-count") == 2, timeout=10, message=f"{server.name} to count 2 again")
        finally:
            probe.close()
    measure(f"streams adapter: readers back after CLIENT KILL TYPE normal in {', '.join(f'{t:.2f}' for t in times)} s; "
            f"cluster working again {time.monotonic() - started:.2f} s after the last")


def test_subscriptions_come_back_after_the_pubsub_connection_is_killed(cluster, clients, redis, measure):
    """CLIENT KILL TYPE pubsub: the server count (NUMSUB) is 2 again, and requests are answered."""
    started = time.monotonic()
    assert redis.command("CLIENT", "KILL", "TYPE", "pubsub") >= 2
    wait_until(lambda: cluster.redis.numsub(PUBLIC) == 2, timeout=10, message="both instances to subscribe again")
    measure(f"streams adapter: subscribed again {time.monotonic() - started:.2f} s after CLIENT KILL TYPE pubsub")
    a = clients(cluster.one, label="a@one")
    clients(cluster.two, label="b@two")
    assert a.call("server-count") == 2
    assert a.call("server-side-emit-ack", "back?", timeout=8) == ["hello from two"]
