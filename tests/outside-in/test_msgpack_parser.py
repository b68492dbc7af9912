"""The server on `--parser msgpack`, by hand over a raw WebSocket: each Socket.IO packet is one
binary message holding the MessagePack map {type, data, id, nsp} in Node's key order, binary
data inline; bad packets (a text message, bytes that are not MessagePack, a BINARY_EVENT type,
an event without arguments) close that connection only. test_events_msgpack.py runs the event
tests with python-socketio's msgpack serializer."""

import msgpack
import pytest
import websocket

from sio_helpers import WAIT, Client, ws_expect_closed, ws_open, ws_recv_text

SERVER_ARGS = ["--parser", "msgpack"]
CLIENT_OPTIONS = {"serializer": "msgpack"}


def recv_packet(ws) -> dict:
    """The next Socket.IO packet: a binary Engine.IO message (pings answered on the way)."""
    ws.settimeout(WAIT)
    while True:
        opcode, data = ws.recv_data()
        if opcode == websocket.ABNF.OPCODE_TEXT:
            assert data == b"2", f"a text message other than a ping: {data!r}"
            ws.send("3")
            continue
        assert opcode == websocket.ABNF.OPCODE_BINARY, opcode
        # Engine.IO v4 sends a binary message as the WebSocket frame itself, no prefix.
        return msgpack.unpackb(data, raw=False)


def send_packet(ws, packet: dict) -> None:
    ws.send_binary(msgpack.packb(packet, use_bin_type=True))


def connected(server):
    ws = ws_open(server)
    assert ws_recv_text(ws).startswith("0{")
    send_packet(ws, {"type": 0, "data": {}, "nsp": "/"})
    reply = recv_packet(ws)
    assert list(reply) == ["type", "data", "nsp"] and reply["type"] == 0 and reply["nsp"] == "/", reply
    welcome = recv_packet(ws)
    assert welcome == {"type": 2, "data": ["welcome", {"sid": reply["data"]["sid"], "auth": {}}], "nsp": "/"}, welcome
    return ws


def test_an_acked_event_and_its_ack_in_the_wire_format(server):
    ws = connected(server)
    try:
        send_packet(ws, {"type": 2, "data": ["echo", {"n": 1.5, "list": [1, None]}], "id": 7, "nsp": "/"})
        ack = recv_packet(ws)
        assert list(ack) == ["type", "data", "id", "nsp"], ack
        assert ack == {"type": 3, "data": [{"n": 1.5, "list": [1, None]}], "id": 7, "nsp": "/"}
    finally:
        ws.close()


def test_binary_travels_inline_as_bin(server):
    ws = connected(server)
    try:
        send_packet(ws, {"type": 2, "data": ["binary-echo", b"\x00\x01\xfe"], "id": 1, "nsp": "/"})
        ack = recv_packet(ws)
        assert ack == {"type": 3, "data": [{"size": 3, "data": b"\x00\x01\xfe"}], "id": 1, "nsp": "/"}, ack
    finally:
        ws.close()


@pytest.mark.parametrize("bad", [
    pytest.param(lambda ws: ws.send('42["echo","text"]'), id="a text message"),
    pytest.param(lambda ws: ws.send_binary(b"\xc1\x00"), id="not MessagePack"),
    pytest.param(lambda ws: send_packet(ws, {"type": 5, "data": ["echo"], "nsp": "/"}), id="BINARY_EVENT"),
    pytest.param(lambda ws: send_packet(ws, {"type": 2, "data": [], "nsp": "/"}), id="an event without a name"),
    pytest.param(lambda ws: send_packet(ws, {"type": 2, "data": ["echo"]}), id="no namespace"),
])
def test_a_bad_packet_closes_that_connection_only(server, clients, bad):
    bystander = clients()
    ws = connected(server)
    try:
        bad(ws)
        ws_expect_closed(ws)
    finally:
        ws.close()
    assert bystander.call("echo", "still here") == "still here"
    fresh = Client(server, serializer="msgpack").connect()
    try:
        assert fresh.call("echo", "new") == "new"
    finally:
        fresh.close()
