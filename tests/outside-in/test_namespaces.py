"""Namespaces: /custom, several namespaces over one connection, middleware
refusal on /admin, unknown namespaces."""

import json

import pytest
import socketio

from sio_helpers import Client, assert_still_serving, ws_recv_text, ws_socketio_connect

TRANSPORTS = ["polling", "websocket"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_custom_namespace_alone(clients, transport):
    """Connecting /custom alone does not connect "/": nothing arrives for "/" (the client
    records "/" without connecting it, and the marker shows all that was sent has arrived)."""
    c = clients(namespaces=["/custom"], transports=[transport], listen=["/"])
    assert c.rec.wait("welcome", "/custom")[0] == ({"nsp": "/custom"},)
    assert c.call("echo", {"in": "custom"}, namespace="/custom") == {"in": "custom"}
    c.sync("/custom")
    assert [e for e in c.rec.events if e[0] == "/"] == [], c.rec.events


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_two_namespaces_over_one_connection(clients, transport):
    c = clients(namespaces=["/", "/custom"], transports=[transport])
    eio_sid = c.sio.eio.sid
    assert eio_sid
    (root_welcome,) = c.rec.wait("welcome", "/")[0]
    assert root_welcome == {"sid": c.sid("/"), "auth": {}}
    assert c.rec.wait("welcome", "/custom")[0] == ({"nsp": "/custom"},)
    assert c.sid("/") != c.sid("/custom"), "each namespace connection has its own socket id"
    assert c.call("echo", "root") == "root"
    assert c.call("echo", "custom", namespace="/custom") == "custom"
    # Each namespace's events reach its own handlers only: "/" echoes an event without ack
    # back as an event, /custom answers only acks. An event for /custom handled by "/" would
    # come back as an "echo" on "/"; "/"'s echo written for /custom would arrive there.
    c.emit("echo", "only-custom", namespace="/custom")
    c.emit("echo", "only-root")
    c.rec.wait("echo", "/")
    c.sync("/")
    c.sync("/custom")
    assert c.rec.all("echo", "/") == [("only-root",)]
    assert c.rec.all("echo", "/custom") == []
    assert c.sio.eio.sid == eio_sid, "both namespaces must share the one Engine.IO session"


def test_acks_come_from_the_namespace_of_the_event(server):
    """With a raw WebSocket, every packet the server writes is seen, whatever its namespace:
    an event with ack for "/" is answered by "/" alone, one for /custom by /custom alone. The
    server runs one connection's handlers in arrival order, so the last ack of each namespace
    is a marker: anything a wrongly routed event made a handler send came before it."""
    ws = ws_socketio_connect(server, "/")
    try:
        ws.send("40/custom,")
        assert ws_recv_text(ws).startswith("40/custom,{"), "no CONNECT for /custom"
        assert ws_recv_text(ws) == '42/custom,["welcome",{"nsp":"/custom"}]'
        ws.send('421["echo","for root"]')
        ws.send('42/custom,2["echo","for custom"]')
        ws.send('42/custom,3["echo","custom marker"]')
        ws.send('424["echo","root marker"]')
        frames = []
        while '43/custom,3["custom marker"]' not in frames or '434["root marker"]' not in frames:
            frames.append(ws_recv_text(ws))
        assert sorted(frames) == sorted(['431["for root"]', '43/custom,2["for custom"]',
                                         '43/custom,3["custom marker"]', '434["root marker"]']), frames
    finally:
        ws.close()


def test_root_rooms_do_not_include_other_namespace_sockets(clients):
    c = clients(namespaces=["/", "/custom"], transports=["websocket"])
    assert c.call("rooms") == [c.sid("/")]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_admin_refused_without_token(server, transport):
    c = Client(server, namespaces=["/admin"], transports=[transport], auth={"token": "wrong"})
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            c.connect(wait_welcome=False)
        errors = c.rec.all("connect_error", "/admin")
        assert errors == [({"message": "not authorized", "data": {"code": "BAD_TOKEN"}},)], errors
        assert c.rec.count("welcome", "/admin") == 0
    finally:
        c.close()
    assert_still_serving(server)


def test_admin_refused_without_any_auth(server):
    c = Client(server, namespaces=["/admin"], transports=["websocket"])
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            c.connect(wait_welcome=False)
        assert c.rec.all("connect_error", "/admin") == [
            ({"message": "not authorized", "data": {"code": "BAD_TOKEN"}},)]
    finally:
        c.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_admin_accepted_with_token(clients, transport):
    c = clients(namespaces=["/admin"], transports=[transport], auth={"token": "secret"})
    assert c.rec.wait("welcome", "/admin")[0] == ({"nsp": "/admin"},)


def test_admin_refusal_leaves_other_namespaces_connected(server):
    """A refused namespace does not close the connection: '/' on the same
    WebSocket keeps working (checked with a raw WebSocket)."""
    ws = ws_socketio_connect(server, "/")
    try:
        ws.send('40/admin,{"token":"nope"}')
        reply = ws_recv_text(ws)
        assert reply.startswith("44/admin,"), reply
        assert json.loads(reply[len("44/admin,"):]) == {"message": "not authorized", "data": {"code": "BAD_TOKEN"}}
        ws.send('42["echo","still here"]')
        assert ws_recv_text(ws) == '42["echo","still here"]'
    finally:
        ws.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unknown_namespace(server, transport):
    c = Client(server, namespaces=["/does-not-exist"], transports=[transport])
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            c.connect(wait_welcome=False)
        errors = c.rec.all("connect_error", "/does-not-exist")
        assert len(errors) == 1, errors
        (data,) = errors[0]
        assert isinstance(data, dict) and data.get("message") == "Invalid namespace", data
    finally:
        c.close()
    assert_still_serving(server)
