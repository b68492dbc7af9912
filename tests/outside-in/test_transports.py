"""Connecting with python-socketio over each transport, and the upgrade."""

import base64
import json
import os
import re
import socket
import time

import pytest

from sio_helpers import WAIT, wait_until


def test_polling_only(clients):
    c = clients(transports=["polling"])
    assert c.sio.transport() == "polling"
    (welcome,) = c.rec.wait("welcome")[0]
    assert welcome == {"sid": c.sid("/"), "auth": {}}
    assert c.call("echo", "over polling") == "over polling"
    time.sleep(0.5)
    assert c.sio.transport() == "polling", "a polling-only client must never be upgraded"
    assert c.call("echo", {"still": "polling"}) == {"still": "polling"}


def test_websocket_only(clients):
    c = clients(transports=["websocket"])
    assert c.sio.transport() == "websocket"
    (welcome,) = c.rec.wait("welcome")[0]
    assert welcome == {"sid": c.sid("/"), "auth": {}}
    assert c.call("echo", "over websocket") == "over websocket"


def test_default_connection_upgrades_to_websocket(clients):
    c = clients()  # polling first, then the upgrade
    wait_until(lambda: c.sio.transport() == "websocket", message="transport to become 'websocket'")
    assert c.call("echo", "after upgrade") == "after upgrade"
    # the welcome emitted around the upgrade arrived exactly once
    time.sleep(0.2)
    assert c.rec.count("welcome") == 1


def test_handshake_advertises_websocket_upgrade(clients):
    c = clients(transports=["polling"])
    assert c.sio.eio.upgrades == ["websocket"]


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_auth_payload_is_passed_to_the_server(clients, transport):
    auth = {"user": "ann", "n": 3, "nested": {"ok": True}}
    c = clients(transports=[transport], auth=auth)
    (welcome,) = c.rec.wait("welcome")[0]
    assert welcome == {"sid": c.sid("/"), "auth": auth}


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_burst_of_emits_all_echoed(clients, transport):
    """A dozen packets at once: batched into polling payloads, or many frames.
    (Kept under python-engineio's 16-packets-per-payload decoding limit.)"""
    c = clients(transports=[transport])
    for i in range(12):
        c.emit("echo", i)
    c.rec.wait("echo", count=12)
    time.sleep(0.2)
    got = c.rec.all("echo")
    assert sorted(a[0] for a in got) == list(range(12)), got


def test_polling_client_survives_burst_of_40_server_packets(clients):
    """A python-socketio polling client refuses a polling response holding more
    than 16 packets (engineio.payload.Payload.max_decode_packets) and drops the
    connection with 'transport error'. The contract says python-socketio works
    over long-polling, so a burst of server events (e.g. bids) must reach it:
    the server has to split long queues over several polling responses."""
    c = clients(transports=["polling"])
    for i in range(40):
        c.emit("echo", i)
    c.rec.wait("echo", count=40, timeout=WAIT * 2)
    time.sleep(0.2)
    assert sorted(a[0] for a in c.rec.all("echo")) == list(range(40))
    assert c.rec.count("disconnect") == 0


def _raw_request(sock, request: bytes) -> bytes:
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_upgrade_on_keep_alive_connection_that_served_the_handshake(server):
    """aiohttp (python-socketio's AsyncClient) sends the WebSocket upgrade on the
    pooled keep-alive connection that carried the polling handshake. The server
    upgrades only on a connection's first request, so it must send the client to a
    fresh connection (307 to the same URL, Connection: close) where the same
    request gets its 101 and the session goes on over WebSocket."""
    s = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    try:
        resp = _raw_request(s, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head, _, body = resp.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(body) < length:
            body += s.recv(65536)
        sid = json.loads(body[1:length])["sid"]
        target = f"/socket.io/?EIO=4&transport=websocket&sid={sid}"

        def upgrade_request() -> bytes:
            key = base64.b64encode(os.urandom(16)).decode()
            return (f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                    f"Sec-WebSocket-Version: 13\r\n\r\n").encode()

        resp = _raw_request(s, upgrade_request())
        head = resp.split(b"\r\n\r\n", 1)[0].decode()
        assert head.startswith("HTTP/1.1 307"), f"upgrade on a reused connection answered {resp[:300]!r}"
        assert re.search(rf"(?im)^location: *{re.escape(target)}\r?$", head), head
        assert re.search(r"(?im)^connection: *close\r?$", head), head
        assert s.recv(1) == b"", "the reused connection must be closed after the redirect"
    finally:
        s.close()

    fresh = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    try:
        resp = _raw_request(fresh, upgrade_request())
        assert resp.startswith(b"HTTP/1.1 101"), resp[:300]
        # The session is alive on the new connection: the probe is answered.
        fresh.sendall(_masked_text_frame(b"2probe"))
        frame = fresh.recv(64)
        assert frame[:2] == b"\x81\x06" and frame[2:8] == b"3probe", frame
    finally:
        fresh.close()


def _masked_text_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked
