"""fetchSockets returns sockets to act on (Node's RemoteSocket) wherever they are connected:
the demo's `remote-socket` finds one by id with fetchSockets on the asking instance and
describes it (rooms, handshake headers as Node has them), emits to it, makes it join and leave
a room, asks it with a deadline, and disconnects it — for a socket on the other instance and
one on the same."""

from __future__ import annotations

import time

import pytest

from cluster_helpers import unique
from support.waiting import wait_until


@pytest.fixture(params=["other", "same"])
def pair(request, cluster, clients):
    """(asker, target): the target on the other instance or on the asker's."""
    asker = clients(cluster.one, label="asker@one")
    server = cluster.two if request.param == "other" else cluster.one
    target = clients(server, label=f"target@{server.name}", acks={"question": lambda q: f"answer to {q}"},
                     headers={"X-Client-Tag": "tag-1"})
    return asker, target


def remote(asker, target, action, **kw):
    return asker.call("remote-socket", {"target": target.sid, "action": action, **kw}, timeout=8)


def test_a_fetched_socket_describes_itself_with_its_handshake_headers(pair):
    asker, target = pair
    got = remote(asker, target, "describe")
    assert got["id"] == target.sid and got["rooms"] == [target.sid], got
    headers = got["headers"]
    assert headers["x-client-tag"] == "tag-1", headers
    assert all(name == name.lower() for name in headers), headers
    assert "host" in headers and headers["upgrade"].lower() == "websocket", headers


def test_emit_join_and_leave_act_on_the_fetched_socket(pair):
    asker, target = pair
    assert remote(asker, target, "emit", event="remote-hello", data={"n": 1}) == "ok"
    assert target.rec.wait("remote-hello")[0] == ({"n": 1},)
    room = unique("joined")
    assert remote(asker, target, "join", room=room) == "ok"
    assert target.call("rooms") == sorted([target.sid, room])
    assert remote(asker, target, "leave", room=room) == "ok"
    assert target.call("rooms") == [target.sid]


def test_an_acknowledged_emit_to_a_fetched_socket_gets_its_answer(pair):
    asker, target = pair
    assert remote(asker, target, "ask", question="q1", timeoutMs=3000) == {"responses": ["answer to q1"]}


def test_an_acknowledged_emit_past_its_deadline_is_a_timeout(cluster, clients):
    asker = clients(cluster.one, label="asker@one")
    # Answers, but only after the asker's deadline.
    slow = clients(cluster.two, label="slow@two", acks={"question": lambda q: time.sleep(1.5) or "late"})
    assert remote(asker, slow, "ask", question="q", timeoutMs=300) == {"error": "timeout", "responses": []}


def test_disconnect_acts_on_the_fetched_socket(pair):
    asker, target = pair
    assert remote(asker, target, "disconnect") == "ok"
    assert wait_until(lambda: not target.connected), "the fetched socket was not disconnected"
    assert remote(asker, target, "describe") == {"error": "not found"}
