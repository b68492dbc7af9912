"""The server API a client can observe, on the demo's `/parity` namespace
(Sources/socketio-demo-server/ParityNamespace.swift), with Node.js Socket.IO 4.8's semantics:
`once`, `off` / `removeAllListeners` / `listenerCount`, `onAny` / `prependAny` / `offAny`,
`onAnyOutgoing` / `offAnyOutgoing`, packet middleware (`socket.use`) and its errors,
`disconnecting` before `disconnect`, joins and emits in namespace middleware, acks with
deadlines (both forms) and a disconnect ending the wait, a room broadcast with acks and a
partial timeout, and the default handler scheduling (one at a time, in arrival order).

`/parity` has no `echo`: the marker is a `rooms` call on `/parity` (the server handles one
connection's packets in order and writes to it in order, so what it sent before answering the
marker has arrived; `settle()` then waits for the client's handlers still running). Orders are
read from `Arrivals` (the receive path), not from the handlers' threads."""

import socket
import uuid

import engineio
import pytest
import socketio

from sio_helpers import WAIT, Arrivals, never_answer, slow_then_fast_ack_order
from support.waiting import wait_until

NS = "/parity"
TRANSPORTS = ["polling", "websocket"]


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def call(c, event, data=None, timeout=WAIT):
    return c.call(event, data, namespace=NS, timeout=timeout)


def emit(c, event, data=None):
    c.emit(event, data, namespace=NS)


def mark(c) -> None:
    """Marker round trip on `/parity`: whatever the server sent this client before it has been
    recorded once this returns."""
    c.settle()
    assert c.sid(NS) in call(c, "rooms")
    c.settle()


def parity(clients, transport="websocket", events=(), **kw):
    return clients(namespaces=[NS], transports=[transport], events=events, **kw)


# 1. once


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_once_handles_the_first_event_only(clients, transport):
    c = parity(clients, transport, events=("first-seen",))
    emit(c, "first", "one")
    emit(c, "first", "two")
    c.rec.wait("first-seen", NS)
    mark(c)
    emit(c, "first", "three")
    mark(c)
    assert c.rec.all("first-seen", NS) == [("one",)]


# 2. off / removeAllListeners / listenerCount


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_off_removes_the_tick_listener(clients, transport):
    c = parity(clients, transport, events=("tock",))
    emit(c, "tick")
    c.rec.wait("tock", NS)
    assert call(c, "off-tick") == 0, "listenerCount('tick') after off"
    emit(c, "tick")
    mark(c)
    assert c.rec.count("tock", NS) == 1, "a tick after off still got a tock"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_remove_all_listeners_of_tick(clients, transport):
    c = parity(clients, transport, events=("tock",))
    emit(c, "tick")
    emit(c, "tick")
    c.rec.wait("tock", NS, count=2)
    assert call(c, "remove-all-ticks") == 0, "listenerCount('tick') after removeAllListeners"
    emit(c, "tick")
    mark(c)
    assert c.rec.count("tock", NS) == 2, "a tick after removeAllListeners still got a tock"


def test_off_is_per_socket(clients):
    """Removing one socket's listener leaves another socket's alone."""
    a = parity(clients, events=("tock",))
    b = parity(clients, events=("tock",))
    assert call(a, "off-tick") == 0
    emit(b, "tick")
    b.rec.wait("tock", NS)
    emit(a, "tick")
    mark(a)
    assert a.rec.count("tock", NS) == 0


# 3. onAny / prependAny / offAny


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_on_any_prepend_any_and_off_any(clients, transport):
    c = parity(clients, transport)
    # Catch-all handlers run before the event's own handler, so each call's own name is logged
    # by the time `log` reads the log.
    emit(c, "hello", 1)
    assert call(c, "log") == ["any-b:hello", "any-a:hello", "any-b:log", "any-a:log"]
    assert call(c, "off-any-a") == "ok"
    emit(c, "hello-again")
    assert call(c, "log") == [
        "any-b:hello", "any-a:hello", "any-b:log", "any-a:log",
        "any-b:off-any-a", "any-a:off-any-a",
        "any-b:hello-again", "any-b:log",
    ]
    assert call(c, "off-any") == "ok"
    emit(c, "hello-once-more")
    assert call(c, "log") == [
        "any-b:hello", "any-a:hello", "any-b:log", "any-a:log",
        "any-b:off-any-a", "any-a:off-any-a",
        "any-b:hello-again", "any-b:log",
        "any-b:off-any",
    ]


# 4. onAnyOutgoing / offAnyOutgoing


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_on_any_outgoing_sees_emits_and_broadcasts(clients, transport):
    room = unique("joined")
    c = parity(clients, transport, events=("from-middleware", "tock", "to-self", "to-joined", "after-off"))
    sid = c.sid(NS)
    emit(c, "tick")
    c.rec.wait("tock", NS)
    assert call(c, "to-room", (sid, "to-self", {"n": 1})) == "ok"
    assert call(c, "join", room) == sorted([sid, room])
    assert call(c, "to-room", (room, "to-joined", {"n": 2})) == "ok"
    c.rec.wait("to-self", NS)
    c.rec.wait("to-joined", NS)
    # The listener is added in the connection handler after `welcome` was emitted, and
    # `from-middleware` was emitted by namespace middleware before that: as in Node (the
    # listeners are notified as an event is emitted), neither is seen. Acks are not events.
    assert call(c, "outgoing-log") == ["tock", "to-self", "to-joined"]
    assert call(c, "off-any-outgoing") == "ok"
    emit(c, "tick")
    assert call(c, "to-room", (sid, "after-off", {"n": 3})) == "ok"
    c.rec.wait("tock", NS, count=2)
    c.rec.wait("after-off", NS)
    assert call(c, "outgoing-log") == ["tock", "to-self", "to-joined"]


def test_on_any_outgoing_does_not_see_broadcasts_that_miss_the_socket(clients):
    c = parity(clients)
    other = parity(clients, events=("elsewhere",))
    room = unique("elsewhere")
    assert room in call(other, "join", room)
    assert call(c, "to-room", (room, "elsewhere", 1)) == "ok"
    other.rec.wait("elsewhere", NS)
    assert call(c, "outgoing-log") == []


# 5. packet middleware (socket.use)

FORBIDDEN = {"message": "forbidden event", "data": {"event": "forbidden"}}
EXPLODED = {"message": "the handler failed"}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_packet_middleware_refuses_events(clients, transport):
    c = parity(clients, transport, events=("error", "handled-error"))
    acked = []
    c.sio.emit("forbidden", "x", namespace=NS, callback=lambda *a: acked.append(("forbidden", a)))
    c.rec.wait("error", NS)
    mark(c)
    assert acked == [], "the refused event's handler ran (it acks 'handler ran')"
    assert c.rec.all("error", NS) == [(FORBIDDEN,)]

    with pytest.raises(socketio.exceptions.TimeoutError):
        call(c, "forbidden", "y", timeout=1)
    c.rec.wait("error", NS, count=2)

    c.sio.emit("explode", "z", namespace=NS, callback=lambda *a: acked.append(("explode", a)))
    c.rec.wait("error", NS, count=3)
    mark(c)
    assert acked == [], "the refused event's handler ran (it acks 'handler ran')"
    assert c.rec.all("error", NS) == [(FORBIDDEN,), (FORBIDDEN,), (EXPLODED,)]
    assert c.rec.all("handled-error", NS) == []

    # Other events still work and the connection is up.
    assert call(c, "rooms") == [c.sid(NS)]
    assert c.sio.connected and c.rec.all("disconnect", NS) == []
    # The catch-all handlers run before the packet middleware (Node's order): refused events
    # are logged (the markers' `rooms` calls left out).
    log = [entry for entry in call(c, "log") if not entry.endswith(":rooms")]
    assert log == ["any-b:forbidden", "any-a:forbidden", "any-b:forbidden", "any-a:forbidden",
                   "any-b:explode", "any-a:explode", "any-b:log", "any-a:log"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_packet_middleware_errors_go_to_the_error_listener(clients, transport):
    c = parity(clients, transport, events=("error", "handled-error"), auth={"handleErrors": True})
    acked = []
    c.sio.emit("forbidden", "x", namespace=NS, callback=lambda *a: acked.append(("forbidden", a)))
    c.rec.wait("handled-error", NS)
    c.sio.emit("explode", "z", namespace=NS, callback=lambda *a: acked.append(("explode", a)))
    c.rec.wait("handled-error", NS, count=2)
    mark(c)
    assert acked == []
    assert c.rec.all("error", NS) == [], "with an error listener the client must not get 'error'"
    (first,), (second,) = c.rec.all("handled-error", NS)
    # Swift's "\(error)": the PacketRefusal struct's description names its message.
    assert "forbidden event" in first["message"], first
    assert second == {"message": "the handler failed"}
    assert call(c, "rooms") == [c.sid(NS)]
    assert c.sio.connected


# 6. disconnecting before disconnect


def leave_namespace(c) -> None:
    """A Socket.IO DISCONNECT for `/parity` on a connection that stays open (what
    `sio.disconnect()` sends before it closes the transport; python-socketio has no call that
    leaves one namespace alone)."""
    c.sio._send_packet(c.sio.packet_class(socketio.packet.DISCONNECT, namespace=NS))


def watch_disconnect(clients, transport, leave, reason):
    """An observer in `observers` sees the subject (in room-x) leave by `leave(subject)`:
    `disconnecting` with its rooms, then `disconnected` with none, both with `reason`."""
    observer = parity(clients, events=("disconnecting", "disconnected"))
    arrivals = Arrivals(observer)
    assert "observers" in call(observer, "join", "observers")
    subject = parity(clients, transport)
    sid = subject.sid(NS)
    assert call(subject, "join", "room-x") == sorted([sid, "room-x"])
    leave(subject)

    def about_subject(a):
        return [(name, args[0]) for (name, args) in a.events(NS)
                if name in ("disconnecting", "disconnected") and args and args[0].get("id") == sid]

    arrivals.wait(lambda a: len(about_subject(a)) >= 2, what="disconnecting and disconnected of the subject")
    mark(observer)
    seen = about_subject(arrivals)
    assert [name for name, _ in seen] == ["disconnecting", "disconnected"], seen
    (_, disconnecting), (_, disconnected) = seen
    assert disconnecting == {"id": sid, "rooms": sorted([sid, "room-x"]), "reason": reason}
    assert disconnected == {"id": sid, "rooms": [], "reason": reason}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_disconnecting_then_disconnect_on_a_client_namespace_disconnect(clients, transport):
    watch_disconnect(clients, transport, leave_namespace, "client namespace disconnect")


def drop_connection(c) -> None:
    """The TCP connection under a WebSocket client goes away: no DISCONNECT, no `close` packet."""
    c.sio.eio.ws.sock.shutdown(socket.SHUT_RDWR)


def send_engineio_close(c) -> None:
    """An Engine.IO `close` packet through the client's send queue (what `eio.disconnect()`
    sends over polling, without its race: python-engineio's writer stops once the state is no
    longer `connected`, so `sio.disconnect()` right after a call may send nothing at all)."""
    c.sio.eio._send_packet(engineio.packet.Packet(engineio.packet.CLOSE))


def test_disconnecting_then_disconnect_when_the_connection_drops(clients):
    """The server hears the TCP connection close (Node's ws transport closes on the socket's
    `close` at once): "transport close", within WAIT, long before any ping would find out."""
    watch_disconnect(clients, "websocket", drop_connection, "transport close")


def test_disconnecting_then_disconnect_when_the_client_closes_polling(clients):
    """The client ends its polling session with a `close` packet and no DISCONNECT: Node's
    polling transport takes the packet as its own close, reported as "transport close"
    (engine.io's "forced close" is the server's own `close()`)."""
    watch_disconnect(clients, "polling", send_engineio_close, "transport close")


# 7. joins and emits in namespace middleware


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_namespace_middleware_joins_and_emits(clients, transport):
    c = clients(connect=False, namespaces=[NS], transports=[transport], events=("from-middleware",),
                auth={"room": "early-room"})
    arrivals = Arrivals(c)
    c.connect()
    c.rec.wait("from-middleware", NS)
    events = arrivals.events(NS)
    assert [name for name, _ in events[:2]] == ["from-middleware", "welcome"], events
    (payload,) = events[0][1]
    assert "early-room" in payload["rooms"], payload
    assert call(c, "rooms") == sorted([c.sid(NS), "early-room"])


def test_namespace_middleware_room_reaches_the_socket(clients):
    room = unique("early")
    c = parity(clients, auth={"room": room}, events=("news",))
    other = parity(clients)
    assert call(other, "to-room", (room, "news", "hi")) == "ok"
    assert c.rec.wait("news", NS) == [("hi",)]


# 8. acks with deadlines


@pytest.mark.parametrize("form", ["await", "callback"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_emit_with_ack_gets_the_answer(clients, transport, form):
    asked = []

    def question(value):
        asked.append(value)
        return f"answer to {value}"

    c = parity(clients, transport, handlers={(NS, "question"): question})
    assert call(c, "ask", {"timeoutMs": 3000, "form": form, "question": "q"}) == {"answer": ["answer to q"]}
    assert asked == ["q"]


@pytest.mark.parametrize("form", ["await", "callback"])
def test_emit_with_ack_gets_several_answer_arguments(clients, form):
    c = parity(clients, handlers={(NS, "question"): lambda value: (value, 2, {"three": 3})})
    assert call(c, "ask", {"timeoutMs": 3000, "form": form, "question": "q"}) == {"answer": ["q", 2, {"three": 3}]}


@pytest.mark.parametrize("form", ["await", "callback"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_emit_with_ack_times_out(clients, transport, form):
    c = parity(clients, transport)
    asked = never_answer(c, "question")
    assert call(c, "ask", {"timeoutMs": 500, "form": form, "question": "q"}) == {"error": "ackTimeout"}
    assert asked == [("q",)], "the question must have reached the client"
    assert call(c, "rooms") == [c.sid(NS)]


def test_a_disconnect_ends_an_ack_wait_at_once(clients):
    observer = parity(clients, events=("ack-ended",))
    assert "observers" in call(observer, "join", "observers")
    subject = parity(clients)
    asked = never_answer(subject, "question")
    sid = subject.sid(NS)
    assert call(subject, "ask-and-wait") == "asked"
    wait_until(lambda: asked, message="the question at the subject")
    leave_namespace(subject)
    # The server's deadline is 60 s: an outcome within WAIT is the disconnect's doing.
    ended = observer.rec.wait("ack-ended", NS)
    mine = [e for (e,) in ended if e["id"] == sid]
    assert len(mine) == 1, ended
    assert mine[0]["outcome"] == {"error": "disconnected"}
    assert 0 <= mine[0]["waitedMs"] < 60000


# 10. broadcast emitWithAck with a partial timeout


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_broadcast_with_ack_partial_timeout(clients, transport):
    room = unique("r")
    answers = clients(namespaces=[NS], transports=[transport],
                      handlers={(NS, "question"): lambda value: f"a:{value}"})
    silent = parity(clients, transport)
    asked = never_answer(silent, "question")
    asker = parity(clients)
    assert room in call(answers, "join", room)
    assert room in call(silent, "join", room)
    assert call(asker, "broadcast-ask", {"room": room, "timeoutMs": 1000, "question": "q"}) == {
        "error": "timeout", "responses": ["a:q"]}
    assert asked == [("q",)]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_broadcast_with_ack_all_answer(clients, transport):
    room = unique("r")
    a = clients(namespaces=[NS], transports=[transport], handlers={(NS, "question"): lambda value: f"a:{value}"})
    b = clients(namespaces=[NS], transports=[transport], handlers={(NS, "question"): lambda value: f"b:{value}"})
    asker = parity(clients)
    assert room in call(a, "join", room)
    assert room in call(b, "join", room)
    got = call(asker, "broadcast-ask", {"room": room, "timeoutMs": 3000, "question": "q"})
    assert set(got) == {"responses"}, got
    assert sorted(got["responses"]) == ["a:q", "b:q"]


# Default handler scheduling: one at a time, in arrival order (test_concurrent_handlers.py has
# the other mode).


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_handlers_run_one_at_a_time_by_default(clients, transport):
    c = parity(clients, transport)
    assert slow_then_fast_ack_order(c, NS) == [["slow"], ["fast"]], "the fast handler did not wait for the slow one"


# Adapter room events (create-room, join-room, leave-room, delete-room)


def test_the_adapter_tells_each_room_change(clients):
    c = parity(clients)
    sid = c.sid(NS)
    room = unique("evented")
    assert call(c, "join", room) == sorted([sid, room])
    assert call(c, "leave", room) == [sid]
    assert call(c, "room-events", (sid, room)) == [
        {"event": "create-room", "room": sid}, {"event": "join-room", "room": sid, "id": sid},
        {"event": "create-room", "room": room}, {"event": "join-room", "room": room, "id": sid},
        {"event": "leave-room", "room": room, "id": sid}, {"event": "delete-room", "room": room},
    ]
    # A room with another socket left in it is not deleted; a socket leaving ends its own room.
    other = parity(clients)
    shared = unique("shared")
    call(c, "join", shared)
    call(other, "join", shared)
    leave_namespace(c)
    # The rooms of a leaving socket are left in no fixed order.
    assert wait_until(lambda: {"event": "delete-room", "room": sid} in call(other, "room-events", (sid,)))
    assert call(other, "room-events", (shared,)) == [
        {"event": "create-room", "room": shared}, {"event": "join-room", "room": shared, "id": sid},
        {"event": "join-room", "room": shared, "id": other.sid(NS)}, {"event": "leave-room", "room": shared, "id": sid},
    ]
    assert {"event": "leave-room", "room": sid, "id": sid} in call(other, "room-events", (sid,))
