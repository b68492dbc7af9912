"""Malformed Socket.IO packets from a connected client: the server closes
that connection (as the reference server does on a decoding error) and keeps
serving everyone else."""

import time

import pytest
import requests

from sio_helpers import (
    WAIT,
    Client,
    assert_still_serving,
    eio_url,
    polling_handshake,
    ws_expect_closed,
    ws_socketio_connect,
)

MALFORMED = {
    "event-payload-not-array": ["42{}"],
    "connect-error-from-client-bad-json": ["4abc"],
    "garbage-after-type": ['42abc["x"]'],
    "placeholder-out-of-range": ['451-["x",{"_placeholder":true,"num":5}]', b"\x01\x02"],
    "unknown-packet-type": ['49["x"]'],
    "truncated-json": ['42["x"'],
    "empty-event-array": ["42[]"],
    "not-a-packet": ["4garbage"],
    "reserved-event-name": ['42["disconnect"]'],
}


@pytest.mark.parametrize("frames", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_packet_over_websocket_closes_connection(server, frames):
    bystander = Client(server, transports=["websocket"]).connect()
    try:
        ws = ws_socketio_connect(server)
        try:
            for f in frames:
                if isinstance(f, bytes):
                    ws.send_binary(f)
                else:
                    ws.send(f)
            ws_expect_closed(ws)
        finally:
            ws.close()
        # another client's connection is unaffected
        assert bystander.call("echo", "unaffected") == "unaffected"
        assert bystander.rec.count("disconnect") == 0
    finally:
        bystander.close()
    assert_still_serving(server)


def poll_until(url, predicate, timeout=WAIT):
    """GETs until predicate(status, packets) holds; returns the last (status, packets)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        r = requests.get(url, timeout=timeout)
        packets = r.text.split("\x1e") if r.status_code == 200 else []
        seen.append((r.status_code, packets if r.status_code == 200 else r.text))
        if predicate(r.status_code, packets):
            return r.status_code, packets
        if r.status_code != 200:
            break
    raise AssertionError(f"polling never reached the expected state; responses: {seen!r}")


@pytest.mark.parametrize("packet", ["42{}", '42abc["x"]'])
def test_malformed_packet_over_polling_closes_session(server, packet):
    sid, _ = polling_handshake(server)
    url = eio_url(server, EIO="4", transport="polling", sid=sid)
    assert requests.post(url, data="40", timeout=WAIT).text == "ok"
    poll_until(url, lambda st, pk: st == 200 and any(p.startswith('42["welcome"') for p in pk))
    r = requests.post(url, data="4" + packet, timeout=WAIT)
    assert r.status_code in (200, 400), (r.status_code, r.text)
    # the session ends: a close packet on the next poll, or the sid is unknown
    status, packets = poll_until(url, lambda st, pk: st == 400 or "1" in pk)
    if status == 200:
        r = requests.get(url, timeout=WAIT)
        assert r.status_code == 400, f"session still alive after close packet: {r.status_code} {r.text!r}"
    assert_still_serving(server)


def test_binary_attachment_without_binary_packet_closes(server):
    """A binary frame that no BINARY_EVENT announced."""
    ws = ws_socketio_connect(server)
    try:
        ws.send_binary(b"\x00\x01\x02")
        ws.settimeout(1.0)
        try:
            ws.send('42["echo","after stray binary"]')
        except Exception:  # noqa: BLE001 - already closed is fine
            pass
        frames = ws_expect_closed(ws)
        # the reference server treats a stray attachment as a decoding error
        assert b'42["echo","after stray binary"]' not in [bytes(f) for f in frames]
    finally:
        ws.close()
    assert_still_serving(server)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_attachments_past_max_payload_close_the_connection_and_free_the_memory(server):
    """A header declaring 1,000 attachments, then 1 MB binary frames: the attachments of one
    packet may add up to maxPayload (1,000,000 here), so the second frame closes the connection
    instead of being kept (without the bound: about 1 MB pinned per frame, 1 GB per connection)."""
    placeholders = ",".join(f'{{"_placeholder":true,"num":{n}}}' for n in range(1000))
    bystander = Client(server, transports=["websocket"]).connect()
    try:
        before = rss_kib(server.proc.pid)
        ws = ws_socketio_connect(server)
        sent = 0
        try:
            ws.send(f'451000-["echo",[{placeholders}]]')
            chunk = b"\xab" * 999_000
            for _ in range(30):
                try:
                    ws.send_binary(chunk)
                except Exception:  # noqa: BLE001 - the server closed the connection: expected
                    break
                sent += 1
            ws_expect_closed(ws)
        finally:
            ws.close()
        assert sent >= 2, f"the connection closed after {sent} frames, before the bound was reached"
        time.sleep(0.5)
        grown = rss_kib(server.proc.pid) - before
        assert grown < 12 * 1024, f"RSS grew by {grown} KiB after {sent} frames of ~1 MB"
        assert bystander.call("echo", "unaffected") == "unaffected"
    finally:
        bystander.close()
    assert_still_serving(server)


def test_more_attachments_than_max_payload_can_refer_to_are_refused(server):
    """Each attachment takes a placeholder of at least 29 bytes in the packet's text, so a
    maxPayload of 1,000,000 allows at most 1,000 (the hard ceiling); 1,001 closes at once."""
    ws = ws_socketio_connect(server)
    try:
        ws.send('451001-["echo",{"_placeholder":true,"num":0}]')
        ws_expect_closed(ws)
    finally:
        ws.close()
    assert_still_serving(server)
