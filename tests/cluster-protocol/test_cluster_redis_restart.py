"""Redis goes away mid-test (scripts/redis.sh stop, or SIGKILL) and comes back on the same
port: meanwhile each instance keeps serving its own clients (events, local room broadcasts,
cluster requests answered locally without hanging); after the restart, cross-instance
traffic works again within 2 s plus a margin (asserted: recovery <= 3 s)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from cluster_helpers import assert_serving, flush, unique
from support.loopback import port_open
from support.waiting import wait_until

RECOVERY_LIMIT = 3.0   # seconds from Redis answering PING again to cross-instance broadcasts
MIN_OUTAGE = 2.0       # long enough for the reconnect backoff to reach its maximum
REQUESTS_TIMEOUT = 5.0
MARGIN = 1.0


def kill_redis(cluster):
    pid = int((cluster.redis.dir / "redis.pid").read_text().strip())
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not port_open(cluster.redis.port), timeout=5, message="Redis port to close")


def check_local_service(local, label):
    """`local` clients share a room on one instance; Redis is down."""
    x1, x2 = local
    assert x1.call("echo", "during outage") == "during outage", label
    token = unique("local")
    assert x1.call("broadcast", {"room": x1.room, "event": "local", "data": token}) == "ok"
    for c in (x1, x2):
        c.rec.wait("local", match=lambda args: args == (token,), timeout=3)
    # Cluster requests fall back to this instance alone, within their timeouts.
    got, elapsed = x1.timed_call("fetch-sockets", x1.room, timeout=REQUESTS_TIMEOUT + 5)
    assert elapsed <= REQUESTS_TIMEOUT + MARGIN, f"{label}: fetch-sockets took {elapsed:.2f}s"
    assert sorted(e["id"] for e in got) == sorted([x1.sid, x2.sid]), f"{label}: {got!r}"
    answers, elapsed = x2.timed_call("server-side-emit-ack", "x", timeout=REQUESTS_TIMEOUT + 5)
    assert elapsed <= REQUESTS_TIMEOUT + MARGIN and answers == [], (label, answers, elapsed)
    acked, elapsed = x2.timed_call("broadcast-ack", {"room": x1.room, "event": "q", "data": 1}, timeout=8)
    assert elapsed <= 2.0 + MARGIN, f"{label}: broadcast-ack took {elapsed:.2f}s"
    assert sorted(acked["responses"]) == sorted([x1.label, x2.label]), (label, acked)


def measure_recovery(a, b, room, started: float, deadline: float) -> tuple[float, float]:
    """Sends a fresh token each way until each arrives; returns seconds since `started` at
    which each direction's successful broadcast was sent (one->two, two->one)."""
    done: dict[str, float] = {}
    n = 0
    while len(done) < 2 and time.monotonic() < deadline:
        n += 1
        sent_at = time.monotonic()
        pending = {}
        for name, sender, receiver in (("one->two", a, b), ("two->one", b, a)):
            if name in done:
                continue
            token = f"back-{n}-{name}"
            assert sender.call("broadcast", {"room": room, "event": "back", "data": token}) == "ok"
            pending[name] = (receiver, token)
        time.sleep(0.1)
        for name, (receiver, token) in pending.items():
            if any(args == (token,) for args in receiver.rec.all("back")):
                done[name] = sent_at - started
    return done.get("one->two", float("inf")), done.get("two->one", float("inf"))


@pytest.mark.parametrize("how", ["redis.sh stop", "SIGKILL"])
def test_outage_keeps_local_service_and_cluster_recovers(cluster, clients, measure, how):
    room = unique("room")

    def acks(name):
        return {"q": lambda data: name}

    a1 = clients(cluster.one, room=room, acks=acks("a1@one"), label="a1@one")
    a2 = clients(cluster.one, room=room, acks=acks("a2@one"), label="a2@one")
    b1 = clients(cluster.two, room=room, acks=acks("b1@two"), label="b1@two")
    b2 = clients(cluster.two, room=room, acks=acks("b2@two"), label="b2@two")

    token = unique("before")
    assert a1.call("broadcast", {"room": room, "event": "before", "data": token}) == "ok"
    b1.rec.wait("before")

    down_at = time.monotonic()
    if how == "SIGKILL":
        kill_redis(cluster)
    else:
        cluster.redis.stop(check=True)
    assert not port_open(cluster.redis.port)

    check_local_service((a1, a2), "one")
    check_local_service((b1, b2), "two")
    for server in cluster.servers:
        assert_serving(server)  # a new client connects and gets its echo
    time.sleep(max(0.0, MIN_OUTAGE - (time.monotonic() - down_at)))

    cluster.redis.start()  # same port; returns once Redis answers PING
    up_at = time.monotonic()
    one_to_two, two_to_one = measure_recovery(a1, b1, room, up_at, up_at + 8.0)
    recovery = max(one_to_two, two_to_one)
    measure(f"Redis {how}, outage {up_at - down_at:.1f}s: cross-instance broadcasts back after "
            f"{one_to_two:.2f}s (one->two), {two_to_one:.2f}s (two->one)")
    assert recovery <= RECOVERY_LIMIT, (f"cross-instance broadcasts came back after one->two {one_to_two:.2f}s, "
                                        f"two->one {two_to_one:.2f}s (limit {RECOVERY_LIMIT}s)")

    # Everything that goes through Redis works again: both request channels are subscribed.
    for c in (a1, b1):
        wait_until(lambda c=c: c.call("server-count") == 2, timeout=3, message=f"{c.label} to count 2")
    assert sorted(e["id"] for e in a1.call("fetch-sockets", room, timeout=8)) == \
        sorted(c.sid for c in (a1, a2, b1, b2))
    assert a2.call("server-side-emit-ack", "again", timeout=8) == ["hello from two"]
    assert b2.call("server-side-emit-ack", "again", timeout=8) == ["hello from one"]
    acked = a1.call("broadcast-ack", {"room": room, "event": "q", "data": 2}, timeout=8)
    assert acked["error"] is None and sorted(acked["responses"]) == ["a1@one", "a2@one", "b1@two", "b2@two"], acked
    # A broadcast reaches each client exactly once (no duplicate subscriptions after reconnect).
    token = unique("after")
    assert b2.call("broadcast", {"room": room, "event": "after", "data": token}) == "ok"
    for c in (a1, a2, b1, b2):
        c.rec.wait("after")
    flush(cluster, [a1, a2, b1, b2])
    for c in (a1, a2, b1, b2):
        assert c.rec.count("after") == 1, f"{c.label}: {c.rec.all('after')!r}"
    assert cluster.redis.numsub() == 2
