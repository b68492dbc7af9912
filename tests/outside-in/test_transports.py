"""Connecting with python-socketio over each transport, and the upgrade."""

import json
import socket

import pytest
import requests

from sio_helpers import WAIT, assert_still_serving
from support.raw_upgrade import read_response, send_upgrade, upgrade
from support.waiting import wait_until


def test_polling_only(clients):
    c = clients(transports=["polling"], events=("news",))
    assert c.sio.transport() == "polling"
    (welcome,) = c.rec.wait("welcome")[0]
    assert welcome == {"sid": c.sid("/"), "auth": {}}
    assert c.call("echo", "over polling") == "over polling"
    # A packet the server sends on its own, not in answer to a POST of this client, reaches
    # it through its pending GET: here a broadcast by another client.
    room = f"polling-{c.sid('/')}"
    assert room in c.call("join", room)
    other = clients(transports=["websocket"])
    assert other.call("broadcast", {"room": room, "event": "news", "data": "pushed"}) == "ok"
    assert c.rec.wait("news")[0] == ("pushed",)
    assert c.call("echo", {"still": "polling"}) == {"still": "polling"}
    assert c.sio.transport() == "polling"


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
    # the welcome emitted around the upgrade arrived exactly once: a second one would have
    # been sent before the answer to the marker
    c.sync()
    assert c.rec.all("welcome") == [({"sid": c.sid("/"), "auth": {}},)]


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
    c.sync()
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
    c.sync()
    assert sorted(a[0] for a in c.rec.all("echo")) == list(range(40))
    assert c.rec.count("disconnect") == 0 and c.sio.connected


def test_upgrade_on_keep_alive_connection_that_served_the_handshake(server):
    """aiohttp (python-socketio's AsyncClient) and reverse proxies with upstream connection
    pools send the WebSocket upgrade on the keep-alive connection that carried the polling
    handshake: the upgrade gets its 101 on that connection, and the session goes on over the
    WebSocket (probe, upgrade, then Socket.IO)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as s:
        s.sendall(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head, body = read_response(s)
        assert head.startswith(b"HTTP/1.1 200") and body.startswith(b"0{"), (head, body)
        sid = json.loads(body[1:])["sid"]
        frames = upgrade(s, f"/socket.io/?EIO=4&transport=websocket&sid={sid}", "127.0.0.1")
        frames.send("2probe")
        assert frames.next_text() == "3probe"
        frames.send("5")
        frames.send("40")
        connected = frames.next_text()
        assert connected.startswith('40{"sid":'), connected
        welcome = json.loads(frames.next_text()[2:])
        assert welcome == ["welcome", {"sid": json.loads(connected[2:])["sid"], "auth": {}}], welcome
        # Bytes the client sends with the upgrade request reach the WebSocket too.
        frames.send('42["echo","after the upgrade"]')
        assert frames.next_text() == '42["echo","after the upgrade"]'


def test_websocket_first_session_on_a_connection_that_served_requests(server):
    """A new session opened by WebSocket (no sid) as the third request of a connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as s:
        for _ in range(2):
            s.sendall(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head, _ = read_response(s)
            assert head.startswith(b"HTTP/1.1 200"), head
        frames = upgrade(s, "/socket.io/?EIO=4&transport=websocket", "127.0.0.1")
        opened = json.loads(frames.next_text()[1:])
        assert opened["upgrades"] == [] and opened["sid"], opened
        frames.send("40")
        assert frames.next_text().startswith('40{"sid":')


@pytest.mark.parametrize("target, key, version, status, code", [
    ("/socket.io/?EIO=4&transport=websocket&sid=unknown-sid", None, "13", 400, 1),
    ("/socket.io/?EIO=4&transport=websocket", "", "13", 400, 3),
    ("/socket.io/?EIO=4&transport=websocket", None, "8", 400, 3),
])
def test_a_refused_upgrade_on_a_reused_connection_gets_the_engineio_error_and_a_close(server, target, key, version, status, code):
    """An unknown sid, no Sec-WebSocket-Key, another WebSocket version: the Engine.IO error
    answer (JSON), Connection: close, and the connection ends; the server serves on."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as s:
        s.sendall(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        read_response(s)
        text, rest = send_upgrade(s, target, "127.0.0.1", key=key, version=version)
        assert text.startswith(f"HTTP/1.1 {status}"), text
        assert "connection: close" in text.lower(), text
        while len(rest) < int(text.lower().split("content-length:")[1].split("\r\n")[0]):
            rest += s.recv(65536)
        assert json.loads(rest)["code"] == code, rest
        assert s.recv(65536) == b"", "the connection stays open after a refused upgrade"
    assert_still_serving(server)


def test_no_io_cookie_unless_asked_for(server):
    """Node sets no `io` cookie by default (test_engine_options.py turns it on)."""
    r = requests.get(f"{server.url}/socket.io/?EIO=4&transport=polling", timeout=WAIT)
    assert r.status_code == 200 and "Set-Cookie" not in r.headers, r.headers


def test_per_message_deflate_is_not_accepted_unless_enabled(server):
    """Off by default, as in Node (test_per_message_deflate.py turns it on)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as s:
        head, _ = send_upgrade(s, "/socket.io/?EIO=4&transport=websocket", "127.0.0.1",
                               {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"})
        assert head.startswith("HTTP/1.1 101"), head
        assert "sec-websocket-extensions" not in head.lower(), head
