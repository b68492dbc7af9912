"""Server-side disconnection: from one namespace (disconnect-me) and of the
whole connection (close-me); client-side disconnection."""

import json

import pytest
import requests
import socketio

from sio_helpers import WAIT, assert_eio_error, assert_still_serving, eio_url, ws_recv_text, ws_socketio_connect
from support.waiting import wait_until

TRANSPORTS = ["polling", "websocket"]
SERVER_DISCONNECT = socketio.Client.reason.SERVER_DISCONNECT
CLIENT_DISCONNECT = socketio.Client.reason.CLIENT_DISCONNECT


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_disconnect_me_disconnects_the_namespace(clients, server, transport):
    c = clients(transports=[transport])
    c.emit("disconnect-me")
    (reason,) = c.rec.wait("disconnect")[0]
    assert reason == SERVER_DISCONNECT, f"python-socketio saw {reason!r}: expected a DISCONNECT packet from the server"
    wait_until(lambda: not c.sio.connected, message="client to be disconnected")
    wait_until(lambda: c.sio.eio.state == "disconnected", message="engine.io session closed by the client")
    assert_still_serving(server)


def test_disconnect_me_sends_one_disconnect_and_keeps_the_connection(server):
    """Seen on a raw WebSocket (python-socketio ignores what comes after its last namespace is
    gone, and closes the connection itself): one DISCONNECT for "/", and the server keeps the
    Engine.IO connection, on which "/" connects again. A second DISCONNECT would come before
    the answer to that CONNECT: the server writes one connection's packets in order."""
    ws = ws_socketio_connect(server, "/")
    try:
        ws.send('42["disconnect-me"]')
        assert ws_recv_text(ws) == "41"
        ws.send("40")
        after = [ws_recv_text(ws)]
        while not after[-1].startswith('42["welcome"'):
            after.append(ws_recv_text(ws))
        assert len(after) == 2 and after[0].startswith('40{"sid":'), f"after the DISCONNECT: {after!r}"
        sid = json.loads(after[0][2:])["sid"]
        assert json.loads(after[1][2:]) == ["welcome", {"sid": sid, "auth": {}}]
        ws.send('421["echo","back"]')
        assert ws_recv_text(ws) == '431["back"]'
    finally:
        ws.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_disconnect_me_keeps_other_namespaces_on_the_connection(clients, transport):
    c = clients(namespaces=["/", "/custom"], transports=[transport])
    eio_sid = c.sio.eio.sid
    c.emit("disconnect-me")
    (reason,) = c.rec.wait("disconnect", "/")[0]
    assert reason == SERVER_DISCONNECT
    assert c.call("echo", "custom still works", namespace="/custom") == "custom still works"
    assert c.sio.eio.sid == eio_sid
    assert c.sio.eio.state == "connected"
    # The client is still connected (by /custom), so it reports every DISCONNECT it gets.
    c.sync("/custom")
    assert c.rec.all("disconnect", "/") == [(SERVER_DISCONNECT,)]
    assert c.rec.all("disconnect", "/custom") == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_disconnected_socket_leaves_its_rooms(clients, transport):
    room = "leaver-" + transport
    stayer = clients(transports=["websocket"], events=("news",))
    leaver = clients(namespaces=["/", "/custom"], transports=[transport], events=("news",))
    stayer.call("join", room)
    leaver.call("join", room)
    leaver.emit("disconnect-me")
    leaver.rec.wait("disconnect", "/")
    assert stayer.call("broadcast", {"room": room, "event": "news", "data": 1}) == "ok"
    stayer.rec.wait("news")
    # The leaver's connection stays open (by /custom) and it records "/" events all the same:
    # the broadcast was written to it, if at all, before the marker's answer.
    leaver.sync("/custom")
    assert leaver.rec.all("news") == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_close_me_closes_the_whole_connection(clients, server, transport):
    c = clients(namespaces=["/", "/custom"], transports=[transport])
    c.emit("close-me")
    (reason_root,) = c.rec.wait("disconnect", "/")[0]
    (reason_custom,) = c.rec.wait("disconnect", "/custom")[0]
    assert reason_root != CLIENT_DISCONNECT and reason_custom != CLIENT_DISCONNECT
    wait_until(lambda: c.sio.eio.state == "disconnected", message="engine.io connection to be closed")
    assert not c.sio.connected
    assert_still_serving(server)


def test_close_me_polling_session_is_gone(clients, server):
    """After close-me the Engine.IO session id is unknown to the server."""
    c = clients(transports=["polling"])
    eio_sid = c.sio.eio.sid
    c.emit("close-me")
    c.rec.wait("disconnect")
    wait_until(lambda: c.sio.eio.state == "disconnected", message="engine.io connection to be closed")
    r = requests.get(eio_url(server, EIO="4", transport="polling", sid=eio_sid), timeout=WAIT)
    assert_eio_error(r, 400, 1, "Session ID unknown")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_client_disconnect_then_server_keeps_serving(clients, server, transport):
    c = clients(transports=[transport])
    c.sio.disconnect()
    assert not c.sio.connected
    assert_still_serving(server)
