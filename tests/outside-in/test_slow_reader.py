"""A WebSocket client that stops reading while broadcasts pile up for it.

The server's socket to it fills (the client's receive buffer is 4 KiB), the
session holds what cannot be written yet, and everyone else is served as
usual. When the client reads again it gets every broadcast exactly once, in
the order they were sent. Raw WebSocket clients, so the test decides exactly
when a client reads."""

import socket
import time
import uuid

from sio_helpers import assert_still_serving, ws_open, ws_recv_text

# ~6.5 MB for the stalled client: far beyond what the kernel buffers of one loopback
# connection hold, so the server must keep most of it and resume when the client drains.
BROADCASTS = 400
PAYLOAD = "x" * 16384


def connect(server, **sockopt_kw):
    ws = ws_open(server, **sockopt_kw)
    assert ws_recv_text(ws).startswith("0")
    ws.send("40")
    assert ws_recv_text(ws).startswith("40{")
    assert ws_recv_text(ws).startswith('42["welcome"')
    return ws


def join(ws, room):
    ws.send(f'4299["join","{room}"]')
    while True:
        packet = ws_recv_text(ws)
        if packet.startswith("4399"):
            assert room in packet, packet
            return


def news_index(packet):
    """The broadcast's sequence number, or None for anything else."""
    prefix = '42["news","'
    if not packet.startswith(prefix):
        return None
    return int(packet[len(prefix):].split(":", 1)[0])


def test_stalled_reader_loses_nothing_and_holds_up_no_one(server):
    room = f"slow-{uuid.uuid4().hex[:8]}"
    slow = connect(server, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    fast = connect(server)
    try:
        join(slow, room)
        join(fast, room)

        fast_seen = []
        started = time.monotonic()
        for i in range(BROADCASTS):
            fast.send(f'42{i + 1}["broadcast",{{"room":"{room}","event":"news","data":"{i}:{PAYLOAD}"}}]')
            while True:
                packet = ws_recv_text(fast)
                if packet == f'43{i + 1}["ok"]':
                    break
                index = news_index(packet)
                assert index is not None, packet[:80]
                fast_seen.append(index)
        while len(fast_seen) < BROADCASTS:
            fast_seen.append(news_index(ws_recv_text(fast)))
        elapsed = time.monotonic() - started
        assert fast_seen == list(range(BROADCASTS)), "the reading client got broadcasts lost or out of order"
        # While the slow client holds megabytes unread, a new client is served at once.
        assert_still_serving(server)

        slow_seen = []
        while len(slow_seen) < BROADCASTS:
            index = news_index(ws_recv_text(slow, timeout=10))
            if index is not None:
                slow_seen.append(index)
        assert slow_seen == list(range(BROADCASTS)), "the stalled client got broadcasts lost, doubled or out of order"
        # The reading client was not paced by the stalled one.
        assert elapsed < 20, f"{BROADCASTS} acknowledged broadcasts took {elapsed:.1f} s"
    finally:
        slow.close()
        fast.close()
