"""Namespaces: /custom, several namespaces over one connection, middleware
refusal on /admin, unknown namespaces."""

import json
import time

import pytest
import socketio

from sio_helpers import Client, assert_still_serving, ws_recv_text, ws_socketio_connect

TRANSPORTS = ["polling", "websocket"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_custom_namespace_alone(clients, transport):
    c = clients(namespaces=["/custom"], transports=[transport])
    assert c.rec.wait("welcome", "/custom")[0] == ({"nsp": "/custom"},)
    assert c.call("echo", {"in": "custom"}, namespace="/custom") == {"in": "custom"}
    assert c.rec.count("welcome", "/") == 0


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
    # root-only events are not routed to /custom
    c.emit("echo", "only-root")
    c.rec.wait("echo", "/")
    time.sleep(0.2)
    assert c.rec.count("echo", "/custom") == 0
    assert c.sio.eio.sid == eio_sid, "both namespaces must share the one Engine.IO session"


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
