"""Wire level, with a raw RESP connection to Redis: what our servers publish has Node's
@socket.io/redis-adapter shape (msgpack broadcasts, JSON/msgpack requests and responses), and
what a Node.js instance publishes (the spec's byte vectors, §4.5–§5.4) is understood.
Spec: /work/shared/specs/socketio-redis-adapter-wire-format.md"""

from __future__ import annotations

import json
import re
import time

import pytest

from cluster_helpers import (BROADCAST_CHANNEL, REQUEST_CHANNEL, RESPONSE_CHANNEL, Client, Subscriber,
                             answers_before_marker, flush, packb, unique, unpackb)
from support.waiting import wait_until

# §4.5 Example A: io.to("room1").emit("chat", "hi", 42) from a Node server with uid "Ab3xY_".
EXAMPLE_A = bytes.fromhex(
    "93a641623378595f83a47479706502a46461746193a463686174a268692aa36e7370a12f"
    "83a5726f6f6d7391a5726f6f6d31a665786365707490a5666c61677380")
# §4.6 Example B: socket.broadcast.emit("file", Buffer.from([1,2,3])), except its own id.
EXAMPLE_B = bytes.fromhex(
    "93a641623378595f83a47479706502a46461746192a466696c65c403010203a36e7370a12f"
    "83a5726f6f6d7390a6657863657074"
    "91b456584e3062545a356f564e71626d5676414141"
    "42a5666c61677380")
# §5.4 BROADCAST (7) request with flags.timeout 1000.
EXAMPLE_BROADCAST_REQUEST = bytes.fromhex(
    "85a3756964a641623378595fa9726571756573744964a671395a6b324ca474797065"
    "07a67061636b657483a47479706502a46461746191a470696e67a36e7370a12fa46f"
    "70747383a5726f6f6d7390a665786365707490a5666c61677381a774696d656f7574cd03e8")
# §5.4 BROADCAST_ACK (9) response.
EXAMPLE_BROADCAST_ACK = bytes.fromhex(
    "83a47479706509a9726571756573744964a671395a6b324ca67061636b6574a4706f6e67")


def test_the_msgpack_helper_reproduces_the_spec_vectors():
    """Guards the test's own codec: byte for byte what notepack.io writes."""
    example_a = ["Ab3xY_", {"type": 2, "data": ["chat", "hi", 42], "nsp": "/"},
                 {"rooms": ["room1"], "except": [], "flags": {}}]
    assert len(EXAMPLE_A) == 65 and packb(example_a) == EXAMPLE_A and unpackb(EXAMPLE_A) == example_a
    example_b = ["Ab3xY_", {"type": 2, "data": ["file", b"\x01\x02\x03"], "nsp": "/"},
                 {"rooms": [], "except": ["VXN0bTZ5oVNqbmVvAAAB"], "flags": {}}]
    assert len(EXAMPLE_B) == 81 and packb(example_b) == EXAMPLE_B
    request = {"uid": "Ab3xY_", "requestId": "q9Zk2L", "type": 7,
               "packet": {"type": 2, "data": ["ping"], "nsp": "/"},
               "opts": {"rooms": [], "except": [], "flags": {"timeout": 1000}}}
    assert len(EXAMPLE_BROADCAST_REQUEST) == 105 and packb(request) == EXAMPLE_BROADCAST_REQUEST
    assert packb({"type": 9, "requestId": "q9Zk2L", "packet": "pong"}) == EXAMPLE_BROADCAST_ACK


@pytest.fixture(scope="module")
def uids(cluster):
    """The adapter uid of each instance, read off one of its broadcasts."""
    found = {}
    with Subscriber(cluster.redis.port) as sub:
        sub.psubscribe(BROADCAST_CHANNEL + "*")
        for server in cluster.servers:
            c = Client(server, label="uid-probe").connect()
            try:
                room = unique("uid")
                assert c.call("broadcast", {"room": room, "event": "x", "data": 0}) == "ok"
                (channel, payload, _), = sub.collect(lambda ch, p, room=room: ch == f"{BROADCAST_CHANNEL}{room}#")
                found[server.name] = unpackb(payload)[0]
            finally:
                c.close()
    assert found["one"] != found["two"], found
    return found


# ---------------------------------------------------------------------------
# what our servers publish


def test_our_room_broadcast_is_nodes_three_element_msgpack_array(cluster, clients, uids):
    room = unique("r1")
    a = clients(cluster.one, room=room, label="a@one")
    b = clients(cluster.two, room=room, label="b@two")
    data = {"i": 300, "neg": -5, "big": 70000, "f": 1.5, "s": "héllo", "t": True, "n": None, "arr": [1, 2]}
    with Subscriber(cluster.redis.port) as exact, Subscriber(cluster.redis.port) as pattern:
        exact.subscribe(f"{BROADCAST_CHANNEL}{room}#")         # the room channel, K#N#ROOM#
        pattern.psubscribe(BROADCAST_CHANNEL + "*")              # what every adapter listens to
        assert a.call("broadcast", {"room": room, "event": "chat", "data": data}) == "ok"
        (channel, payload, _), = exact.collect(lambda ch, p: True)
        assert channel == f"socket.io#/#{room}#"
        (pchannel, ppayload, pat), = pattern.collect(lambda ch, p: ch == channel)
        assert ppayload == payload and pat == "socket.io#/#*"

    message = unpackb(payload)
    assert isinstance(message, list) and len(message) == 3, message
    uid, packet, opts = message
    assert uid == uids["one"]
    assert isinstance(uid, str) and uid and uid != "emitter" and not set(uid) & set("#*?[]"), uid
    assert packet == {"type": 2, "data": ["chat", data], "nsp": "/"}, packet
    assert list(packet) == ["type", "data", "nsp"], "Node's key order"
    assert opts == {"rooms": [room], "except": [], "flags": {}}, opts
    assert list(opts) == ["rooms", "except", "flags"], "Node's key order"
    # Smallest formats as notepack writes them: 300 -> cd 01 2c, -5 -> fb, 1.5 -> float64, ...
    assert payload == packb([uid, {"type": 2, "data": ["chat", data], "nsp": "/"},
                             {"rooms": [room], "except": [], "flags": {}}]), payload.hex()
    assert b.rec.wait("chat")[0] == (data,)


def test_our_broadcast_except_others_and_binary_on_the_wire(cluster, clients, uids):
    room, vip = unique("r"), unique("vip")
    a = clients(cluster.one, room=room, label="a@one")
    b = clients(cluster.two, room=room, label="b@two")
    with Subscriber(cluster.redis.port) as sub:
        sub.psubscribe(BROADCAST_CHANNEL + "*")
        on_room = lambda ch, p: ch == f"{BROADCAST_CHANNEL}{room}#"  # noqa: E731

        assert a.call("broadcast", {"room": room, "event": "e", "data": 1, "except": vip}) == "ok"
        (_, payload, _), = sub.collect(on_room)
        assert unpackb(payload)[2] == {"rooms": [room], "except": [vip], "flags": {}}

        assert b.call("broadcast-others", {"room": room, "event": "o", "data": "x"}) == "ok"
        (_, payload, _), = sub.collect(on_room)
        uid, packet, opts = unpackb(payload)
        assert uid == uids["two"]
        assert packet == {"type": 2, "data": ["o", "x"], "nsp": "/"}
        assert opts == {"rooms": [room], "except": [b.sid], "flags": {}}, opts

        blob = bytes(range(256))
        assert a.call("broadcast", {"room": room, "event": "bin", "data": {"blob": blob, "n": 1}}) == "ok"
        (_, payload, _), = sub.collect(on_room)
        packet = unpackb(payload)[1]
        # Binary stays msgpack bin (c5 for 256 bytes); the packet stays EVENT (2), no placeholders.
        assert packet == {"type": 2, "data": ["bin", {"blob": blob, "n": 1}], "nsp": "/"}, packet
        assert b"\xc5\x01\x00" + blob in payload
    assert b.rec.wait("bin")[0] == ({"blob": blob, "n": 1},)


# ---------------------------------------------------------------------------
# what a Node.js instance publishes


def test_node_example_a_broadcast_reaches_our_clients(cluster, clients):
    c1 = clients(cluster.one, room="room1", label="c1@one")
    c2 = clients(cluster.two, room="room1", label="c2@two")
    outsider = clients(cluster.one, label="outsider@one")
    receivers = cluster.redis.publish("socket.io#/#room1#", EXAMPLE_A)
    assert receivers >= 2, f"both adapters' pattern subscriptions should get it, PUBLISH said {receivers}"
    for c in (c1, c2):
        assert c.rec.wait("chat")[0] == ("hi", 42), c.label
    flush(cluster, [c1, c2, outsider])
    assert c1.rec.count("chat") == c2.rec.count("chat") == 1
    assert outsider.rec.count("chat") == 0


def test_node_example_b_binary_broadcast_reaches_our_clients(cluster, clients):
    c1 = clients(cluster.one, label="c1@one")
    c2 = clients(cluster.two, label="c2@two")
    cluster.redis.publish("socket.io#/#", EXAMPLE_B)
    for c in (c1, c2):
        (got,) = c.rec.wait("file")[0]
        assert isinstance(got, bytes) and got == b"\x01\x02\x03", (c.label, got)


def test_node_broadcast_variants(cluster, clients, uids):
    r1, r2 = unique("r1"), unique("r2")
    both = clients(cluster.one, room=r1, label="both@one")
    assert r2 in both.call("join", r2)
    only2 = clients(cluster.two, room=r2, label="only2@two")
    skipped = clients(cluster.two, room=r1, label="skipped@two")
    other = clients(cluster.one, label="other@one")

    def publish(channel, uid, data, opts, nsp="/"):
        cluster.redis.publish(channel, packb([uid, {"type": 2, "data": data, "nsp": nsp}, opts]))

    # two rooms on the base channel, except one socket id: a socket in both rooms gets it once
    publish(BROADCAST_CHANNEL, "Ab3xY_", ["multi", 1], {"rooms": [r1, r2], "except": [skipped.sid], "flags": {}})
    for c in (both, only2):
        assert c.rec.wait("multi")[0] == (1,)
    # emitter: uid "emitter", opts key order rooms/flags/except, volatile flag, float and nil
    publish(f"{BROADCAST_CHANNEL}{r2}#", "emitter", ["news", {"a": 1.5, "ok": True, "n": None}],
            {"rooms": [r2], "flags": {"volatile": True}, "except": []})
    for c in (both, only2):
        assert c.rec.wait("news")[0] == ({"a": 1.5, "ok": True, "n": None},)
    # another namespace's message on our prefix is not ours
    publish(BROADCAST_CHANNEL, "Ab3xY_", ["wrong-nsp"], {"rooms": [], "except": [], "flags": {}}, nsp="/admin")
    # a message carrying instance one's uid: one drops it (its own echo), two delivers it
    publish(BROADCAST_CHANNEL, uids["one"], ["self", 2], {"rooms": [r1, r2], "except": [], "flags": {}})
    only2.rec.wait("self")
    skipped.rec.wait("self")
    # a missing nsp means "/" (§4.2)
    cluster.redis.publish(BROADCAST_CHANNEL, packb(["Ab3xY_", {"type": 2, "data": ["no-nsp"]},
                                                    {"rooms": [r2], "except": [], "flags": {}}]))
    for c in (both, only2):
        c.rec.wait("no-nsp")
    # a numeric room name, as io.to(123) sends it: channel …#123#, rooms [123] as an integer
    assert "123" in other.call("join", "123")
    publish(f"{BROADCAST_CHANNEL}123#", "Ab3xY_", ["numeric"], {"rooms": [123], "except": [], "flags": {}})
    other.rec.wait("numeric")
    # a Date (timestamp extension, -1) reaches clients as Node's JSON.stringify writes it
    payload = packb(["Ab3xY_", {"type": 2, "data": ["when", "PLACEHOLDER"], "nsp": "/"},
                     {"rooms": [r2], "except": [], "flags": {}}])
    payload = payload.replace(b"\xabPLACEHOLDER", bytes.fromhex("d6ff39457980"))  # 2000-06-13T00:00:00Z
    cluster.redis.publish(BROADCAST_CHANNEL, payload)
    assert only2.rec.wait("when")[0] == ("2000-06-13T00:00:00.000Z",)

    flush(cluster, [both, only2, skipped, other])
    assert both.rec.count("multi") == only2.rec.count("multi") == 1
    assert skipped.rec.count("multi") == other.rec.count("multi") == 0
    assert skipped.rec.count("news") == other.rec.count("news") == 0
    for c in (both, only2, skipped, other):
        assert c.rec.count("wrong-nsp") == 0, c.label
    assert both.rec.count("self") == 0, "instance one must drop a message with its own uid"
    assert only2.rec.count("self") == 1
    assert other.rec.count("numeric") == 1 and both.rec.count("numeric") == 0


def node_remote_fetch(cluster, room: str, expected_responses: int = 2) -> list[dict]:
    """Publishes a REMOTE_FETCH as Node does; returns the sockets of all JSON responses."""
    request_id = unique("Zq81_x")
    request = ('{"uid":"Ab3xY_","requestId":"%s","type":5,"opts":{"rooms":["%s"],"except":[]}}'
               % (request_id, room)).encode()
    with Subscriber(cluster.redis.port) as sub:
        sub.subscribe(RESPONSE_CHANNEL)
        cluster.redis.publish(REQUEST_CHANNEL, request)
        responses = sub.collect(lambda ch, p: request_id.encode() in p, count=expected_responses)
        extra = [m for m in answers_before_marker(sub, cluster.redis.port) if request_id.encode() in m[1]]
    assert extra == [], f"one response per server, got more: {extra!r}"
    sockets = []
    for channel, payload, _ in responses:
        assert channel == RESPONSE_CHANNEL
        assert payload[:1] == b"{", f"REMOTE_FETCH responses are JSON: {payload[:80]!r}"
        body = json.loads(payload)
        assert list(body) == ["requestId", "sockets"] and body["requestId"] == request_id, body
        assert isinstance(body["sockets"], list), body
        sockets += body["sockets"]
    return sockets


def test_node_remote_fetch_request_gets_our_json_responses(cluster, clients):
    c1 = clients(cluster.one, room="room1", label="c1@one")
    c2 = clients(cluster.two, room="room1", label="c2@two")
    clients(cluster.two, label="not-in-room1@two")
    assert c1.call("set-data", {"name": "c1", "score": 3}) == "ok"
    sockets = node_remote_fetch(cluster, "room1")
    by_id = {s["id"]: s for s in sockets}
    assert len(sockets) == 2 and set(by_id) == {c1.sid, c2.sid}, sockets
    now_ms = time.time() * 1000
    for c, data in ((c1, {"name": "c1", "score": 3}), (c2, {})):
        s = by_id[c.sid]
        assert list(s) == ["id", "handshake", "rooms", "data"], list(s)
        assert sorted(s["rooms"]) == sorted([c.sid, "room1"]) and s["data"] == data, s
        h = s["handshake"]
        assert list(h) == ["headers", "time", "address", "xdomain", "secure", "issued", "url", "query",
                           "auth"], list(h)
        assert isinstance(h["headers"], dict) and all(k == k.lower() for k in h["headers"]), h["headers"]
        assert isinstance(h["time"], str) and h["time"], h
        assert h["address"] == "127.0.0.1", h
        assert h["xdomain"] is ("origin" in h["headers"]), "xdomain is !!headers.origin"
        assert h["secure"] is False, h
        assert isinstance(h["issued"], (int, float)) and h["issued"] == int(h["issued"]), h
        assert now_ms - 120_000 < h["issued"] <= now_ms + 1000, h
        assert isinstance(h["url"], str) and h["url"].startswith("/socket.io/"), h
        assert h["query"].get("EIO") == "4" and h["query"].get("transport") == "websocket", h
        assert h["query"].get("room") == "room1", h
        assert h["auth"] == {}, h


JS_DATE_TO_STRING = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{2} \d{4} "
    r"\d{2}:\d{2}:\d{2} GMT[+-]\d{4}( \(.+\))?$")


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_node_remote_fetch_handshake_fields_are_nodes(cluster, clients, transport):
    """Spec §5.4: `handshake` as Socket.IO has it: headers include `host`, `url` is the request
    URL with its query string, `time` is JavaScript's Date.toString() (matching `issued`)."""
    room = unique("hs")
    c = clients(cluster.two, room=room, label=f"{transport}@two", transports=(transport,))
    (s,) = node_remote_fetch(cluster, room)
    h = s["handshake"]
    problems = []
    if h["headers"].get("host") != f"127.0.0.1:{c.server.port}":
        problems.append(f"headers.host is {h['headers'].get('host')!r}, expected '127.0.0.1:{c.server.port}' "
                        f"(headers: {sorted(h['headers'])})")
    if not (h["url"].startswith("/socket.io/?") and "EIO=4" in h["url"] and f"room={room}" in h["url"]):
        problems.append(f"url is {h['url']!r}, expected the request URL with its query, "
                        f"like '/socket.io/?EIO=4&transport={transport}&room={room}&t=...'")
    if not JS_DATE_TO_STRING.match(h["time"]):
        problems.append(f"time is {h['time']!r}, expected Date.toString() like "
                        f"'Tue Jun 25 2026 16:35:20 GMT+0000 (Coordinated Universal Time)'")
    assert not problems, "; ".join(problems)


def test_node_server_side_emit_requests(cluster, clients):
    c1 = clients(cluster.one, label="c1@one")
    c2 = clients(cluster.two, label="c2@two")
    with Subscriber(cluster.redis.port) as sub:
        sub.subscribe(RESPONSE_CHANNEL)
        # with ack: every server answers on the shared response channel
        rid = unique("P0o-7c")
        cluster.redis.publish(REQUEST_CHANNEL, json.dumps(
            {"uid": "Ab3xY_", "requestId": rid, "type": 6, "data": ["hello", "from-node", 1]},
            separators=(",", ":")).encode())
        answers = sub.collect(lambda ch, p: rid.encode() in p, count=2)
        bodies = sorted((json.loads(p) for _, p, _ in answers), key=lambda b: b["data"])
        assert bodies == [{"type": 6, "requestId": rid, "data": "hello from one"},
                          {"type": 6, "requestId": rid, "data": "hello from two"}], bodies
        for c in (c1, c2):
            assert c.rec.wait("server-side")[0] == ({"from": "remote", "args": ["from-node", 1]},)
        # without ack, and as the emitter sends it (no uid): delivered, not answered
        cluster.redis.publish(REQUEST_CHANNEL, b'{"uid":"emitter","type":6,"data":["hello","no-ack"]}')
        cluster.redis.publish(REQUEST_CHANNEL, b'{"type":6,"data":["hello","no-uid"]}')
        for c in (c1, c2):
            c.rec.wait("server-side", count=3)
        assert answers_before_marker(sub, cluster.redis.port) == [], "no answer without a requestId"
    for c in (c1, c2):
        # (order: see test_cluster_ordering.py)
        assert sorted(a[0]["args"] for a in c.rec.all("server-side")) == [["from-node", 1], ["no-ack"], ["no-uid"]]


def test_node_broadcast_with_ack_request(cluster, clients):
    room = unique("ack")
    a1 = clients(cluster.one, room=room, acks={"q": lambda *a: "a1"}, label="a1@one")
    a2 = clients(cluster.one, room=room, acks={"q": lambda *a: b"\x01\x02"}, label="a2@one")
    b1 = clients(cluster.two, room=room, acks={"q": lambda *a: {"by": "b1", "args": list(a)}}, label="b1@two")
    outsider = clients(cluster.two, label="outsider@two")
    rid = unique("q9Zk2L")
    request = packb({"uid": "Ab3xY_", "requestId": rid, "type": 7,
                     "packet": {"type": 2, "data": ["q", 5, "x"], "nsp": "/"},
                     "opts": {"rooms": [room], "except": [], "flags": {"timeout": 1000}}})
    with Subscriber(cluster.redis.port) as sub:
        sub.subscribe(RESPONSE_CHANNEL)
        cluster.redis.publish(REQUEST_CHANNEL, request)
        got = sub.collect(lambda ch, p: rid.encode() in p, count=5)
        # A client's ack, and so its instance's answer, comes before the client's round trip;
        # answers_before_marker then follows every answer the instances published.
        for c in (a1, a2, b1, outsider):
            c.sync()
        extra = [m for m in answers_before_marker(sub, cluster.redis.port) if rid.encode() in m[1]]
    assert extra == [], f"unexpected further responses: {extra!r}"
    assert outsider.rec.count("q") == 0
    counts, acks = [], []
    for _, payload, _ in got:
        if payload[:1] == b"{":
            counts.append(json.loads(payload))
        else:
            acks.append(unpackb(payload))
    # BROADCAST_CLIENT_COUNT (8) in JSON, one per server; BROADCAST_ACK (9) in msgpack, one per client
    assert sorted(c["clientCount"] for c in counts) == [1, 2], counts
    for c in counts:
        assert c == {"type": 8, "requestId": rid, "clientCount": c["clientCount"]}, c
    for a in acks:
        assert list(a) == ["type", "requestId", "packet"] and a["type"] == 9 and a["requestId"] == rid, a
    assert sorted((a["packet"] for a in acks), key=repr) == sorted(
        ["a1", b"\x01\x02", {"by": "b1", "args": [5, "x"]}], key=repr), acks
    assert b1.rec.all("q") == [(5, "x")]


def test_node_room_changes_and_legacy_requests(cluster, clients):
    room = unique("t")
    c1 = clients(cluster.one, room=room, label="c1@one")
    c2 = clients(cluster.two, room=room, label="c2@two")
    bystander = clients(cluster.two, label="bystander@two")

    def request(obj):
        cluster.redis.publish(REQUEST_CHANNEL, json.dumps(obj, separators=(",", ":")).encode())

    # REMOTE_JOIN (current form), then REMOTE_LEAVE as the emitter sends it (no uid)
    request({"uid": "Ab3xY_", "type": 2, "opts": {"rooms": [room], "except": []}, "rooms": ["n1", "n2"]})
    for c in (c1, c2):
        wait_until(lambda c=c: {"n1", "n2"} <= set(c.call("rooms")), timeout=3, message=f"{c.label} joins")
    assert "n1" not in bystander.call("rooms")
    request({"type": 3, "opts": {"rooms": [room], "except": [c2.sid]}, "rooms": ["n1"]})
    wait_until(lambda: "n1" not in c1.call("rooms"), timeout=3, message="c1 leaves n1")
    flush(cluster, [c1, c2])  # two has handled the leave too
    assert "n1" in c2.call("rooms"), "c2 was excepted from the leave"

    with Subscriber(cluster.redis.port) as sub:
        sub.subscribe(RESPONSE_CHANNEL)
        # ALL_ROOMS (1): each server answers with its rooms, socket id rooms included
        rid = unique("k2Jd9a")
        request({"uid": "Ab3xY_", "requestId": rid, "type": 1})
        bodies = [json.loads(p) for _, p, _ in sub.collect(lambda ch, p: rid.encode() in p, count=2)]
        rooms = set()
        for body in bodies:
            assert set(body) == {"requestId", "rooms"}, body
            rooms |= set(body["rooms"])
        assert {room, "n1", "n2", c1.sid, c2.sid, bystander.sid} <= rooms, bodies
        # legacy SOCKETS (0): socket ids in the rooms
        rid = unique("sk")
        request({"uid": "Ab3xY_", "requestId": rid, "type": 0, "rooms": [room]})
        bodies = [json.loads(p) for _, p, _ in sub.collect(lambda ch, p: rid.encode() in p, count=2)]
        assert sorted(sum((b["sockets"] for b in bodies), [])) == sorted([c1.sid, c2.sid]), bodies
        # legacy REMOTE_JOIN by socket id: the owner joins it and answers alone
        rid = unique("lj")
        request({"uid": "Ab3xY_", "requestId": rid, "type": 2, "sid": c2.sid, "room": "legacy"})
        (_, payload, _), = sub.collect(lambda ch, p: rid.encode() in p)
        assert json.loads(payload) == {"requestId": rid}
        assert [m for m in answers_before_marker(sub, cluster.redis.port) if rid.encode() in m[1]] == []
    assert "legacy" in c2.call("rooms")

    # REMOTE_DISCONNECT: sockets in the room except c2
    request({"uid": "Ab3xY_", "type": 4, "opts": {"rooms": [room], "except": [c2.sid]}, "close": False})
    c1.rec.wait("disconnect", timeout=3)
    flush(cluster, [c2, bystander])  # two has handled the request; a DISCONNECT would have come
    assert c2.connected and bystander.connected
    assert c2.call("echo", 1) == 1


# ---------------------------------------------------------------------------
# what our requests look like


def test_our_requests_and_responses_on_the_wire(cluster, clients, uids):
    room = unique("req")
    a = clients(cluster.one, room=room, acks={"q": lambda *x: "a"}, label="a@one")
    b = clients(cluster.two, room=room, acks={"q": lambda *x: "b"}, label="b@two")
    with Subscriber(cluster.redis.port) as req, Subscriber(cluster.redis.port) as res:
        # A pattern without wildcards matches the request channel only, and NUMSUB does not
        # count pattern subscribers, so the cluster still sees two servers.
        req.psubscribe(REQUEST_CHANNEL)
        res.subscribe(RESPONSE_CHANNEL)
        assert cluster.redis.numsub() == 2

        def next_request():
            (_, payload, _), = req.collect(lambda ch, p: ch == REQUEST_CHANNEL)
            return payload

        assert len(a.call("fetch-sockets", room, timeout=8)) == 2
        payload = next_request()
        assert payload[:1] == b"{", payload
        fetch = json.loads(payload)
        assert list(fetch) == ["uid", "requestId", "type", "opts"], fetch
        assert fetch["uid"] == uids["one"] and fetch["type"] == 5, fetch
        assert fetch["opts"] == {"rooms": [room], "except": []}, fetch
        (_, payload, _), = res.collect(lambda ch, p: fetch["requestId"].encode() in p)
        body = json.loads(payload)
        assert body["requestId"] == fetch["requestId"] and [s["id"] for s in body["sockets"]] == [b.sid], body

        assert a.call("server-side-emit", "a", 1) == "ok"
        assert json.loads(next_request()) == {"uid": uids["one"], "type": 6, "data": ["hello", "a", 1]}

        assert b.call("server-side-emit-ack", "z", timeout=8) == ["hello from one"]
        emit = json.loads(next_request())
        assert list(emit) == ["uid", "requestId", "type", "data"], emit
        assert emit["uid"] == uids["two"] and emit["type"] == 6 and emit["data"] == ["hello", "z"], emit
        (_, payload, _), = res.collect(lambda ch, p: emit["requestId"].encode() in p)
        assert json.loads(payload) == {"type": 6, "requestId": emit["requestId"], "data": "hello from one"}

        assert a.call("remote-join", {"target": room, "room": "joined"}) == "ok"
        assert json.loads(next_request()) == {"uid": uids["one"], "type": 2,
                                              "opts": {"rooms": [room], "except": []}, "rooms": ["joined"]}
        assert a.call("remote-leave", {"target": room, "room": "joined"}) == "ok"
        assert json.loads(next_request()) == {"uid": uids["one"], "type": 3,
                                              "opts": {"rooms": [room], "except": []}, "rooms": ["joined"]}

        result = a.call("broadcast-ack", {"room": room, "event": "q", "data": 1}, timeout=8)
        assert sorted(result["responses"]) == ["a", "b"] and result["error"] is None, result
        payload = next_request()
        assert payload[:1] != b"{", "the BROADCAST request is msgpack"
        bcast = unpackb(payload)
        assert list(bcast) == ["uid", "requestId", "type", "packet", "opts"], bcast
        assert bcast["uid"] == uids["one"] and bcast["type"] == 7, bcast
        assert bcast["packet"] == {"type": 2, "data": ["q", 1], "nsp": "/"}, "no ack id on the wire"
        assert bcast["opts"] == {"rooms": [room], "except": [], "flags": {"timeout": 2000}}, bcast
        rid = bcast["requestId"].encode()
        got = res.collect(lambda ch, p: rid in p, count=2)
        count = [json.loads(p) for _, p, _ in got if p[:1] == b"{"]
        ack = [unpackb(p) for _, p, _ in got if p[:1] != b"{"]
        assert count == [{"type": 8, "requestId": bcast["requestId"], "clientCount": 1}], got
        assert ack == [{"type": 9, "requestId": bcast["requestId"], "packet": "b"}], got

        assert a.call("remote-disconnect", {"target": b.sid}) == "ok"
        assert json.loads(next_request()) == {"uid": uids["one"], "type": 4,
                                              "opts": {"rooms": [b.sid], "except": []}, "close": False}
    b.rec.wait("disconnect", timeout=3)
