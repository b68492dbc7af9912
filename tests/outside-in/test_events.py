"""Events both ways, acknowledgements, binary payloads, with python-socketio."""

import threading
import time

import pytest

from sio_helpers import WAIT

TRANSPORTS = ["polling", "websocket"]

JSON_VALUE = {
    "int": 42,
    "neg": -7,
    "big": 9007199254740991,
    "float": 1.5,
    "t": True,
    "f": False,
    "null": None,
    "list": [1, "two", [3, {"four": 4}]],
    "text": 'quote " backslash \\ slash / newline \n tab \t',
    "unicode": "héllo € 😀 日本",
    "empty": {},
}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_echo_with_ack_returns_same_value(clients, transport):
    c = clients(transports=[transport])
    assert c.call("echo", JSON_VALUE) == JSON_VALUE
    assert c.call("echo", "plain string") == "plain string"
    assert c.call("echo", 0) == 0
    assert c.call("echo", [1, 2, 3]) == [1, 2, 3]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_echo_with_ack_multiple_arguments(clients, transport):
    c = clients(transports=[transport])
    assert c.call("echo", ("a", 1, {"b": [2]}, None)) == ("a", 1, {"b": [2]}, None)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_echo_without_ack_is_emitted_back(clients, transport):
    c = clients(transports=[transport])
    c.emit("echo", ("x", {"y": 1}))
    assert c.rec.wait("echo")[0] == ("x", {"y": 1})
    c.sync()  # a second echo would have arrived before the marker's ack
    assert c.rec.all("echo") == [("x", {"y": 1})]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_large_payload_round_trip(clients, transport):
    c = clients(transports=[transport])
    big = "€" * 100_000  # 300 kB of UTF-8
    assert c.call("echo", big) == big


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_concurrent_acks_are_matched_to_their_calls(clients, transport):
    c = clients(transports=[transport])
    results = {}

    def call(i):
        results[i] = c.call("echo", {"i": i})

    threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 2)
    assert results == {i: {"i": i} for i in range(20)}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_binary_from_server_in_ack(clients, transport):
    c = clients(transports=[transport])
    data = c.call("binary")
    assert isinstance(data, bytes), type(data)
    assert data == b"\x01\x02\x03\x04"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_binary_to_server_echoed_in_ack(clients, transport):
    c = clients(transports=[transport])
    payload = bytes(range(256)) * 4
    assert c.call("binary-echo", payload) == {"size": len(payload), "data": payload}
    assert c.call("binary-echo", b"") == {"size": 0, "data": b""}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_binary_event_from_server(clients, transport):
    """echo without ack of a binary argument: the server emits a BINARY_EVENT back."""
    c = clients(transports=[transport])
    c.emit("echo", ({"label": "blob"}, b"\x00\xffbinary"))
    assert c.rec.wait("echo")[0] == ({"label": "blob"}, b"\x00\xffbinary")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_server_emit_with_ack_from_client(clients, transport):
    asked = []

    def on_question(value):
        asked.append(value)
        return {"reply-to": value}

    c = clients(transports=[transport], handlers={("/", "question"): on_question})
    assert c.call("ask", {"q": "why"}) == {"answer": {"reply-to": {"q": "why"}}}
    assert asked == [{"q": "why"}]


def test_server_emit_with_ack_times_out(clients):
    asked = []

    def question(value):
        asked.append(value)
        if len(asked) == 1:
            time.sleep(3)  # longer than the server's 2 s ack timeout
            return "too late"
        return f"answer to {value}"

    c = clients(transports=["websocket"], handlers={("/", "question"): question})
    started = time.monotonic()
    assert c.call("ask", "anyone?", timeout=10) == {"error": "timeout"}
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed <= 3.5, f"ack timeout fired after {elapsed:.2f}s, expected about 2 s"
    # The late ack leaves when the handler returns; once the handlers are done, the echo
    # below follows it on the connection, so its answer shows the server took the late ack
    # and kept the connection.
    c.settle()
    assert c.call("echo", "after late ack") == "after late ack"
    # and the next question is answered with its own ack, not the late one
    assert c.call("ask", "again?") == {"answer": "answer to again?"}
    assert asked == ["anyone?", "again?"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_rooms_join_leave(clients, transport):
    c = clients(transports=[transport])
    sid = c.sid("/")
    assert c.call("rooms") == [sid]
    assert c.call("join", "zeta") == sorted([sid, "zeta"])
    assert c.call("join", "alpha") == sorted([sid, "zeta", "alpha"])
    assert c.call("join", "alpha") == sorted([sid, "zeta", "alpha"]), "joining twice is a no-op"
    assert c.call("leave", "zeta") == sorted([sid, "alpha"])
    assert c.call("leave", "not-joined") == sorted([sid, "alpha"])
    assert c.call("rooms") == sorted([sid, "alpha"])


def test_room_from_handshake_query(clients):
    c = clients(query={"room": "lobby-q"}, transports=["websocket"])
    assert c.call("rooms") == sorted([c.sid("/"), "lobby-q"])


def test_welcome_sid_is_the_namespace_socket_id(clients):
    c = clients(transports=["websocket"])
    (welcome,) = c.rec.wait("welcome")[0]
    assert welcome["sid"] == c.sid("/")
    other = clients(transports=["websocket"])
    assert other.sid("/") != c.sid("/"), "socket ids must be unique"
