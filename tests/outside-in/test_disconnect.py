"""Server-side disconnection: from one namespace (disconnect-me) and of the
whole connection (close-me); client-side disconnection."""

import time

import pytest
import requests
import socketio

from sio_helpers import WAIT, assert_eio_error, assert_still_serving, eio_url, wait_until

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
    time.sleep(0.2)
    assert c.rec.count("disconnect") == 1
    assert_still_serving(server)


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
    assert c.rec.count("disconnect", "/custom") == 0


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
    time.sleep(0.3)
    assert leaver.rec.count("news") == 0
    assert leaver.rec.count("news", "/custom") == 0


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
