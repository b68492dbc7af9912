"""Malformed messages on the adapter's channels are dropped: nothing reaches the clients,
neither instance dies, and the cluster keeps working (local events, cross-instance broadcasts,
requests) afterwards."""

from __future__ import annotations

from cluster_helpers import (BROADCAST_CHANNEL, REQUEST_CHANNEL, RESPONSE_CHANNEL, RawRedis, Subscriber,
                             answers_before_marker, assert_cross_broadcast, assert_serving, flush, packb, unique)


def assert_cluster_healthy(cluster, clients):
    for server in cluster.servers:
        assert server.alive(), f"demo server {server.name} died:\n{server.log_text()}"
        assert_serving(server)
    assert_cross_broadcast(cluster)
    a = clients(cluster.one, label="health@one")
    b = clients(cluster.two, label="health@two")
    assert a.call("server-count") == 2 and b.call("server-count") == 2
    assert a.call("server-side-emit-ack", "ok?", timeout=8) == ["hello from two"]
    ids = {e["id"] for e in b.call("fetch-sockets", timeout=8)}
    assert {a.sid, b.sid} <= ids, ids


def assert_no_stray_events(cluster, watchers):
    """Nothing but the welcome reached the watchers: checked after flush(), whose markers
    follow the malformed messages through Redis and the instances (requests included)."""
    flush(cluster, watchers, requests=True)
    for c in watchers:
        stray = [ev for ev in c.rec.names() if ev not in ("connect", "welcome")]
        assert stray == [], f"{c.label} got events from malformed messages: {c.rec.events!r}"
        assert c.connected, f"{c.label} was disconnected"


def publish_all(cluster, messages):
    with RawRedis(cluster.redis.port) as conn:
        for channel, payload in messages:
            conn.command("PUBLISH", channel, payload)


def test_garbage_published_with_redis_cli_is_dropped(cluster, clients):
    room = unique("room")
    watchers = [clients(cluster.one, room=room, label="w1@one"), clients(cluster.two, room=room, label="w2@two")]
    # exactly as an operator would type it
    assert int(cluster.redis.cli("publish", "socket.io#/#", "garbage")) == 2
    assert int(cluster.redis.cli("publish", "socket.io-request#/#", "{not json")) == 2
    assert int(cluster.redis.cli("publish", f"socket.io#/#{room}#", "garbage")) == 2
    assert int(cluster.redis.cli("publish", "socket.io-response#/#", "{not json")) == 2
    assert_no_stray_events(cluster, watchers)
    assert_cluster_healthy(cluster, clients)


def test_malformed_broadcasts_are_dropped(cluster, clients):
    room = unique("room")
    watchers = [clients(cluster.one, room=room, label="w1@one"), clients(cluster.two, room=room, label="w2@two")]
    packet = {"type": 2, "data": ["should-not-arrive"], "nsp": "/"}
    opts = {"rooms": [], "except": [], "flags": {}}
    payloads = [
        b"", b"\xc1", b"\x93", b"\x93\xa6Ab3xY_", b"\x93\xa6Ab3xY_\x83\xa4type",   # truncated
        EXAMPLE_A_TRUNCATED, EXAMPLE_A_PLUS_TRAILING,
        packb(42), packb("text"), packb({"uid": "x"}), packb([]), packb(["Ab3xY_"]),
        packb(["Ab3xY_", "not a packet", opts]), packb(["Ab3xY_", None, opts]),
        packb(["Ab3xY_", {"type": 2, "data": "not an array", "nsp": "/"}, opts]),
        packb(["Ab3xY_", {"type": 2, "nsp": "/"}, opts]),                         # no data
        b"\x93\xa6Ab3xY_\x83\xa4type\x02\xa4data\x91\xa2\xff\xfe\xa3nsp\xa1/\x80",   # invalid UTF-8
        b"\xdb\xff\xff\xff\xff", b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff",  # huge declared lengths
        b"\xc6\xff\xff\xff\xff", b"\xc9\xff\xff\xff\xff\x01",
        b"\x91" * 100_000,                                                        # deep nesting
        b"\x81\xa1k" * 50_000 + b"\xc0",
        b"\x93\xa6Ab3xY_" + b"\x91" * 100_000 + b"\xc0" + packb(opts),
        bytes(range(256)) * 4000,                                                 # 1 MB of noise
    ]
    messages = []
    for payload in payloads:
        messages.append((BROADCAST_CHANNEL, payload))
        messages.append((f"{BROADCAST_CHANNEL}{room}#", payload))                # a room with local sockets
    messages.append((BROADCAST_CHANNEL, packb(["Ab3xY_", packet, opts])[:-1]))
    publish_all(cluster, messages)
    assert_no_stray_events(cluster, watchers)
    assert_cluster_healthy(cluster, clients)


def test_broadcasts_whose_nsp_is_not_a_string_are_dropped(cluster, clients):
    """Node defaults only a missing `nsp` to "/" (§4.2, §4.4); `null` or a number is not its
    namespace name, so Node drops the message."""
    room = unique("room")
    watchers = [clients(cluster.one, room=room, label="w1@one"), clients(cluster.two, room=room, label="w2@two")]
    opts = {"rooms": [room], "except": [], "flags": {}}
    publish_all(cluster, [
        (f"{BROADCAST_CHANNEL}{room}#", packb(["Ab3xY_", {"type": 2, "data": ["nsp-null"], "nsp": None}, opts])),
        (f"{BROADCAST_CHANNEL}{room}#", packb(["Ab3xY_", {"type": 2, "data": ["nsp-number"], "nsp": 5}, opts])),
        (f"{BROADCAST_CHANNEL}{room}#", packb(["Ab3xY_", {"type": 2, "data": ["nsp-list"], "nsp": ["/"]}, opts])),
    ])
    assert_no_stray_events(cluster, watchers)


def test_malformed_requests_and_responses_are_dropped(cluster, clients):
    room = unique("room")
    watchers = [clients(cluster.one, room=room, label="w1@one"), clients(cluster.two, room=room, label="w2@two")]
    requests = [
        b"{not json", b"{", b"{}", b"[1,2,3]", b"null", b"\x00\x01\x02", b"\xc1", b"\x85",
        b'{"type":"5","requestId":"a"}', b'{"type":5}', b'{"type":5,"requestId":7}',
        b'{"type":5,"requestId":"a","opts":"x"}'[:-3], b'{"type":1e999,"requestId":"x"}',
        b'{"type":-1,"requestId":"x"}', b'{"type":99,"requestId":"x"}', b'{"type":5.5,"requestId":"x"}',
        b'{"type":6}', b'{"type":6,"data":"str"}', b'{"type":6,"data":[]}', b'{"type":6,"data":[5]}',
        b'{"type":6,"data":{"0":"hello"}}',
        b'{"type":6,"data":["hello","\xff\xfe"]}',                                # invalid UTF-8
        b'{"type":7,"requestId":"x"}', b'{"type":7,"requestId":"x","packet":"str"}',
        b'{"type":8,"requestId":"x","clientCount":"many"}', b'{"type":9,"requestId":"x"}',
        b'{"type":2}', b'{"type":3,"sid":5,"room":[]}', b'{"type":4}', b'{"type":4,"sid":"nobody"}',
        b'{"type":2,"opts":{"rooms":5,"except":"x"},"rooms":"r"}',
        b'{"type":6,"data":' + b"[" * 100_000 + b"]" * 100_000 + b"}",              # deep nesting
        b'{"type":6,"data":["' + b"\\u" * 1000 + b'"]}',
        packb({"type": 7}), packb({"type": 7, "requestId": "x", "packet": None}),
        packb({"type": 7, "requestId": "x", "packet": {"type": 2, "data": "no", "nsp": "/"}}),
        b"\x81\xa4type" + b"\x91" * 100_000 + b"\x07",
        b"\xdf\xff\xff\xff\xff", b"\xdd\xff\xff\xff\xff",
        b"{" + b"x" * 1_000_000,
    ]
    responses = [
        b"{not json", b"\xc1", b'{"requestId":5}', b'{"requestId":"x","sockets":5}',
        b'{"requestId":"x","rooms":{}}', b'{"type":8,"requestId":"x","clientCount":-3}',
        packb({"type": 9, "requestId": "nope", "packet": 1}), b"\x91" * 100_000,
    ]
    own_response_channels = [f"{RESPONSE_CHANNEL}{uid}#" for uid in ("Ab3xY_", "x")]
    messages = [(REQUEST_CHANNEL, p) for p in requests]
    messages += [(ch, p) for p in responses for ch in [RESPONSE_CHANNEL, *own_response_channels]]
    publish_all(cluster, messages)
    assert_no_stray_events(cluster, watchers)
    for c in watchers:
        assert c.call("rooms") == sorted([c.sid, room]), "no room change from malformed requests"
    assert_cluster_healthy(cluster, clients)


def test_answers_to_malformed_requests_are_not_sent(cluster, clients):
    """Requests that lack what an answer needs (a requestId, a string requestId) get none."""
    with Subscriber(cluster.redis.port) as sub:
        sub.subscribe(RESPONSE_CHANNEL)
        publish_all(cluster, [
            (REQUEST_CHANNEL, b'{"uid":"Ab3xY_","type":5,"opts":{"rooms":[],"except":[]}}'),
            (REQUEST_CHANNEL, b'{"uid":"Ab3xY_","type":1}'),
            (REQUEST_CHANNEL, b'{"uid":"Ab3xY_","requestId":{"a":1},"type":1}'),
        ])
        assert answers_before_marker(sub, cluster.redis.port) == []
    assert_cluster_healthy(cluster, clients)


EXAMPLE_A = bytes.fromhex(
    "93a641623378595f83a47479706502a46461746193a463686174a268692aa36e7370a12f"
    "83a5726f6f6d7391a5726f6f6d31a665786365707490a5666c61677380")
EXAMPLE_A_TRUNCATED = EXAMPLE_A[:40]
EXAMPLE_A_PLUS_TRAILING = EXAMPLE_A + b"\x00"
