"""Connection state recovery (`--recovery`, a 3-second window here) on the wire, as the spec's
Part A has it, with raw Engine.IO/Socket.IO frames over WebSocket: the CONNECT reply carries
`{"sid","pid"}`; broadcasts and direct emits without an ack end with an offset, acks do not; a socket whose connection dropped comes back with the same id, rooms and data and,
before its CONNECT reply, every event of its rooms it missed in order (none of other rooms, none it
sent itself to others); a socket that left on purpose, an unknown pid, an unknown offset or an
expired session gets a new socket."""

from __future__ import annotations

import json
import time

import pytest

from support.raw_socketio import RawSocketIO

SERVER_ARGS = ["--recovery", "--recovery-seconds", "3"]


@pytest.fixture
def raw(server):
    made: list[RawSocketIO] = []

    def make(auth: dict | None = None) -> RawSocketIO:
        r = RawSocketIO(f"ws://127.0.0.1:{server.port}", auth)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def dropped_session(raw, room: str):
    """A socket in `room` with data, that got one broadcast and one direct event, then dropped:
    (sid, pid, last offset, the sender)."""
    a = raw()
    _, hello = a.connect_reply()
    assert list(hello) == ["sid", "pid"] and hello["sid"] != hello["pid"], hello
    assert room in a.call("join", room)
    assert a.call("set-data", {"user": "u7"}) == "ok"
    sender = raw()
    sender.connect_reply()
    assert sender.call("broadcast", {"room": room, "event": "news", "data": 1}) == "ok"
    news = a.event("news")
    assert news[0] == 1 and isinstance(news[1], str), news
    assert a.call("emit-self", "direct") == "ok"
    direct = a.event("self")
    assert direct[0] == "direct" and isinstance(direct[1], str) and direct[1] != news[1], direct
    a.drop()
    time.sleep(0.3)   # the server has seen the connection close
    return hello["sid"], hello["pid"], direct[1], sender


def test_a_dropped_socket_comes_back_with_what_it_missed(raw):
    sid, pid, offset, sender = dropped_session(raw, "item:42")
    for n in (2, 3):
        assert sender.call("broadcast", {"room": "item:42", "event": "news", "data": n}) == "ok"
    assert sender.call("broadcast", {"room": "elsewhere", "event": "news", "data": "other room"}) == "ok"

    back = raw({"pid": pid, "offset": offset, "user": "u7"})
    before, hello = back.connect_reply()
    assert hello == {"sid": sid, "pid": pid}, hello
    replayed = [json.loads(f[2:]) for f in before]
    assert [r[:2] for r in replayed] == [["news", 2], ["news", 3]], before
    assert all(isinstance(r[2], str) for r in replayed) and len({r[2] for r in replayed}) == 2, replayed
    state = back.call("recovered")
    assert state == {"recovered": True, "data": {"user": "u7"}}, state
    assert "item:42" in back.call("rooms")
    # It is in its room again: live broadcasts reach it.
    assert sender.call("broadcast", {"room": "item:42", "event": "news", "data": 4}) == "ok"
    assert back.event("news")[0] == 4


def test_acks_carry_no_offset(raw):
    a = raw()
    a.connect_reply()
    a.ws.send('421["rooms"]')
    frame = a.until(lambda f: f.startswith("431["))[-1]
    assert len(json.loads(frame[3:])) == 1, frame


@pytest.mark.parametrize("auth", [
    {"pid": "AAAAAAAAAAAAAAAAAAAA", "offset": "x"},      # a pid nobody has
    {"pid": None, "offset": None},                        # not strings
])
def test_an_unknown_pid_gets_a_new_socket(raw, auth):
    c = raw(auth)
    before, hello = c.connect_reply()
    assert before == [] and set(hello) == {"sid", "pid"} and hello["pid"] != auth["pid"], hello
    assert c.call("recovered")["recovered"] is False


def test_an_unknown_offset_gets_a_new_socket(raw):
    sid, pid, _offset, _sender = dropped_session(raw, "room-b")
    c = raw({"pid": pid, "offset": "not-an-offset"})
    _, hello = c.connect_reply()
    assert hello["sid"] != sid and hello["pid"] != pid


def test_a_socket_that_left_on_purpose_is_not_kept(raw):
    a = raw()
    _, hello = a.connect_reply()
    assert a.call("emit-self", "x") == "ok"
    offset = a.event("self")[-1]
    a.ws.send("41")          # the client's own namespace disconnect
    time.sleep(0.3)
    c = raw({"pid": hello["pid"], "offset": offset})
    _, again = c.connect_reply()
    assert again["sid"] != hello["sid"], again


def test_an_expired_session_gets_a_new_socket(raw):
    sid, pid, offset, _sender = dropped_session(raw, "room-c")
    time.sleep(3.3)          # --recovery-seconds 3
    c = raw({"pid": pid, "offset": offset})
    _, hello = c.connect_reply()
    assert hello["sid"] != sid, hello
    assert c.call("recovered")["recovered"] is False


def test_another_user_cannot_take_a_kept_socket(raw, server):
    """The demo server's shouldRestore compares the kept socket's data.user with the new auth's
    user: a pid and offset replayed by someone else get a new socket, and none of the kept
    socket's missed events."""
    sid, pid, offset, sender = dropped_session(raw, "item:7")
    assert sender.call("broadcast", {"room": "item:7", "event": "news", "data": "secret"}) == "ok"
    thief = raw({"pid": pid, "offset": offset, "user": "u8"})
    before, hello = thief.connect_reply()
    assert before == [] and hello["sid"] != sid and hello["pid"] != pid, (before, hello)
    assert thief.call("recovered") == {"recovered": False, "data": {}}
    # The owner still can.
    owner = raw({"pid": pid, "offset": offset, "user": "u7"})
    before, hello = owner.connect_reply()
    assert hello == {"sid": sid, "pid": pid} and [json.loads(f[2:])[1] for f in before] == ["secret"], before
