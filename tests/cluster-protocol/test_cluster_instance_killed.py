"""Requests never hang on a server that will not answer: a subscriber that PUBSUB NUMSUB
counts but that stays silent, and a demo server killed with SIGKILL (NUMSUB may still count
it until Redis notices the closed connection). Requests come back within their timeouts
(5 s requestsTimeout; 2 s for the demo's ack broadcast) with what the live servers answered."""

from __future__ import annotations

import signal
import threading
import time

from cluster_helpers import REQUEST_CHANNEL, Subscriber, assert_cross_broadcast, flush, unique
from support.waiting import wait_until

REQUESTS_TIMEOUT = 5.0
ACK_TIMEOUT = 2.0
MARGIN = 1.0


def run_concurrently(calls: dict) -> dict:
    """name -> (client, event, args); runs every call in its own thread at once and returns
    name -> (result or exception, elapsed seconds)."""
    results: dict = {}

    def run(name, client, event, args):
        started = time.monotonic()
        try:
            value = client.call(event, *args, timeout=REQUESTS_TIMEOUT + 5)
        except Exception as exc:  # noqa: BLE001 - reported by the assertions
            value = exc
        results[name] = (value, time.monotonic() - started)

    threads = [threading.Thread(target=run, args=(name, *spec), daemon=True) for name, spec in calls.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=REQUESTS_TIMEOUT + 10)
    assert all(not t.is_alive() for t in threads), f"calls still running: {results!r}"
    return results


def ack_answer(name):
    return lambda data: name


def test_a_counted_but_silent_server_delays_requests_only_up_to_their_timeouts(cluster, clients, measure):
    room = unique("room")
    a1 = clients(cluster.one, room=room, acks={"q": ack_answer("a1")}, label="a1@one")
    a2 = clients(cluster.one, room=room, acks={"q": ack_answer("a2")}, label="a2@one")
    b1 = clients(cluster.two, room=room, acks={"q": ack_answer("b1")}, label="b1@two")
    askers = [clients(cluster.one, label=f"asker{i}@one") for i in range(3)]
    assert b1.call("set-data", {"who": "b1"}) == "ok"

    with Subscriber(cluster.redis.port) as silent:
        silent.subscribe(REQUEST_CHANNEL)  # a "server" that never answers
        assert cluster.redis.numsub() == 3
        assert askers[0].call("server-count") == 3

        results = run_concurrently({
            "fetch": (askers[0], "fetch-sockets", (room,)),
            "emit-ack": (askers[1], "server-side-emit-ack", ("x",)),
            "broadcast-ack": (askers[2], "broadcast-ack", ({"room": room, "event": "q", "data": 1},)),
        })
        for name, (value, elapsed) in results.items():
            measure(f"silent subscriber counted: {name} answered in {elapsed:.2f}s")

        fetched, elapsed = results["fetch"]
        assert not isinstance(fetched, Exception), f"fetch-sockets: {fetched!r} after {elapsed:.2f}s"
        assert elapsed <= REQUESTS_TIMEOUT + MARGIN, f"fetch-sockets took {elapsed:.2f}s"
        assert sorted(e["id"] for e in fetched) == sorted([a1.sid, a2.sid, b1.sid]), \
            f"the sockets of both live servers: {fetched!r}"

        answers, elapsed = results["emit-ack"]
        assert not isinstance(answers, Exception), f"server-side-emit-ack: {answers!r} after {elapsed:.2f}s"
        assert elapsed <= REQUESTS_TIMEOUT + MARGIN, f"server-side-emit-ack took {elapsed:.2f}s"
        assert answers == ["hello from two"], answers

        acked, elapsed = results["broadcast-ack"]
        assert not isinstance(acked, Exception), f"broadcast-ack: {acked!r} after {elapsed:.2f}s"
        assert elapsed <= ACK_TIMEOUT + MARGIN, f"broadcast-ack took {elapsed:.2f}s"
        assert sorted(acked["responses"]) == ["a1", "a2", "b1"], acked
        # Three servers counted, two reported: incomplete, as Node reports it.
        assert acked["error"] == "timeout", acked

    wait_until(lambda: askers[0].call("server-count") == 2, timeout=5, message="server count back to 2")


def test_a_frozen_instance_delays_requests_only_up_to_their_timeouts(cluster, clients, measure):
    """SIGSTOP: the frozen server's connections stay open, so NUMSUB still counts it, but it
    answers nothing. After SIGCONT its late answers to expired requests are ignored."""
    room = unique("room")
    a1 = clients(cluster.one, room=room, acks={"q": ack_answer("a1")}, label="a1@one")
    b1 = clients(cluster.two, room=room, acks={"q": ack_answer("b1")}, label="b1@two")
    askers = [clients(cluster.one, label=f"asker{i}@one") for i in range(4)]
    assert askers[0].call("server-count") == 2

    cluster.two.proc.send_signal(signal.SIGSTOP)
    try:
        results = run_concurrently({
            "fetch": (askers[0], "fetch-sockets", (room,)),
            "emit-ack": (askers[1], "server-side-emit-ack", ("x",)),
            "broadcast-ack": (askers[2], "broadcast-ack", ({"room": room, "event": "q", "data": 1},)),
            "server-count": (askers[3], "server-count", ()),
        })
    finally:
        cluster.two.proc.send_signal(signal.SIGCONT)
    for name, (value, elapsed) in results.items():
        measure(f"two frozen (SIGSTOP): {name} answered in {elapsed:.2f}s")

    assert results["server-count"][0] == 2, results
    fetched, elapsed = results["fetch"]
    assert not isinstance(fetched, Exception) and elapsed <= REQUESTS_TIMEOUT + MARGIN, (fetched, elapsed)
    assert [e["id"] for e in fetched] == [a1.sid], fetched
    answers, elapsed = results["emit-ack"]
    assert not isinstance(answers, Exception) and elapsed <= REQUESTS_TIMEOUT + MARGIN, (answers, elapsed)
    assert answers == [], answers
    acked, elapsed = results["broadcast-ack"]
    assert not isinstance(acked, Exception) and elapsed <= ACK_TIMEOUT + MARGIN, (acked, elapsed)
    assert acked == {"responses": ["a1"], "error": "timeout"}, acked

    # Thawed: two works through its backlog (b1 gets the late "q" and the server-side emit);
    # its answers are for expired requests and change nothing; the cluster works again. b1's
    # round trip follows its late ack at two, and the flush follows two's late answers through
    # Redis to one, so the checks below come after one got all of them.
    b1.rec.wait("q", timeout=5)
    b1.rec.wait("server-side", timeout=5)
    b1.sync()
    flush(cluster, [a1, b1, *askers], requests=True)
    assert_cross_broadcast(cluster)
    assert askers[0].call("server-count") == 2
    result = askers[2].call("broadcast-ack", {"room": room, "event": "q", "data": 2}, timeout=8)
    assert sorted(result["responses"]) == ["a1", "b1"] and result["error"] is None, result
    assert sorted(askers[0].call("server-side-emit-ack", "z", timeout=8)) == ["hello from two"]


def test_requests_right_after_an_instance_is_killed(cluster, clients, measure):
    room = unique("room")
    a1 = clients(cluster.one, room=room, acks={"q": ack_answer("a1")}, label="a1@one")
    a2 = clients(cluster.one, room=room, acks={"q": ack_answer("a2")}, label="a2@one")
    clients(cluster.two, room=room, acks={"q": ack_answer("b1")}, label="b1@two")
    askers = [clients(cluster.one, label=f"asker{i}@one") for i in range(3)]
    assert askers[0].call("server-count") == 2

    cluster.two.kill()
    results = run_concurrently({
        "fetch": (askers[0], "fetch-sockets", (room,)),
        "emit-ack": (askers[1], "server-side-emit-ack", ("x",)),
        "broadcast-ack": (askers[2], "broadcast-ack", ({"room": room, "event": "q", "data": 1},)),
    })
    for name, (value, elapsed) in results.items():
        measure(f"right after SIGKILL of two: {name} answered in {elapsed:.2f}s")

    fetched, elapsed = results["fetch"]
    assert not isinstance(fetched, Exception), f"fetch-sockets: {fetched!r} after {elapsed:.2f}s"
    assert elapsed <= REQUESTS_TIMEOUT + MARGIN, f"fetch-sockets took {elapsed:.2f}s"
    assert sorted(e["id"] for e in fetched) == sorted([a1.sid, a2.sid]), fetched

    answers, elapsed = results["emit-ack"]
    assert not isinstance(answers, Exception), f"server-side-emit-ack: {answers!r} after {elapsed:.2f}s"
    assert elapsed <= REQUESTS_TIMEOUT + MARGIN, f"server-side-emit-ack took {elapsed:.2f}s"
    assert answers == [], answers

    acked, elapsed = results["broadcast-ack"]
    assert not isinstance(acked, Exception), f"broadcast-ack: {acked!r} after {elapsed:.2f}s"
    assert elapsed <= ACK_TIMEOUT + MARGIN, f"broadcast-ack took {elapsed:.2f}s"
    assert sorted(acked["responses"]) == ["a1", "a2"], acked
    # Complete if NUMSUB had already dropped the dead server, else a timeout: both are right.
    assert acked["error"] in (None, "timeout"), acked

    # Once Redis has dropped the dead connection, the survivor is alone and answers at once.
    wait_until(lambda: askers[0].call("server-count") == 1, timeout=5, message="server count to drop to 1")
    results = run_concurrently({
        "fetch": (askers[0], "fetch-sockets", (room,)),
        "emit-ack": (askers[1], "server-side-emit-ack", ("y",)),
        "broadcast-ack": (askers[2], "broadcast-ack", ({"room": room, "event": "q", "data": 2},)),
    })
    assert sorted(e["id"] for e in results["fetch"][0]) == sorted([a1.sid, a2.sid]), results
    assert results["emit-ack"][0] == [], results
    acked = results["broadcast-ack"][0]
    assert sorted(acked["responses"]) == ["a1", "a2"] and acked["error"] is None, results
    for name, (_, elapsed) in results.items():
        assert elapsed < 1.5, f"{name} alone in the cluster took {elapsed:.2f}s: {results!r}"
    assert a1.call("echo", "alive") == "alive"
