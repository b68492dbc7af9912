"""Bad input at the Engine.IO level (raw HTTP and WebSocket), per the
Engine.IO v4 spec and the reference server's error codes:
0 Transport unknown, 1 Session ID unknown, 2 Bad handshake method,
3 Bad request, 5 Unsupported protocol version.
After each bad input a fresh normal client still connects and echoes."""

import json
import socket
import threading
import time

import pytest
import requests
import websocket

from sio_helpers import (
    WAIT,
    assert_eio_error,
    assert_still_serving,
    eio_url,
    polling_handshake,
    ws_expect_closed,
    ws_open,
)


# --- handshake / query errors -----------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_sid(server, method):
    url = eio_url(server, EIO="4", transport="polling", sid="no-such-session")
    r = requests.request(method, url, data="4hello" if method == "POST" else None, timeout=WAIT)
    assert_eio_error(r, 400, 1, "Session ID unknown")
    assert_still_serving(server)


@pytest.mark.parametrize("eio", [None, "abc", "3", "5", ""])
def test_missing_or_invalid_eio(server, eio):
    query = {"transport": "polling"}
    if eio is not None:
        query["EIO"] = eio
    r = requests.get(eio_url(server, **query), timeout=WAIT)
    assert_eio_error(r, 400, 5, "Unsupported protocol version")
    assert_still_serving(server)


@pytest.mark.parametrize("transport", [None, "abc", "", "webtransport"])
def test_unknown_transport(server, transport):
    query = {"EIO": "4"}
    if transport is not None:
        query["transport"] = transport
    r = requests.get(eio_url(server, **query), timeout=WAIT)
    assert_eio_error(r, 400, 0, "Transport unknown")
    assert_still_serving(server)


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_handshake_with_bad_method(server, method):
    r = requests.request(method, eio_url(server, EIO="4", transport="polling"), data="40", timeout=WAIT)
    assert_eio_error(r, 400, 2, "Bad handshake method")
    assert_still_serving(server)


def test_polling_request_on_websocket_session(server):
    ws = ws_open(server)
    try:
        opened = ws.recv()
        assert opened.startswith("0")
        sid = json.loads(opened[1:])["sid"]
        r = requests.get(eio_url(server, EIO="4", transport="polling", sid=sid), timeout=WAIT)
        assert_eio_error(r, 400, 3, "Bad request")
        # the WebSocket session itself is untouched
        ws.send("40")
        assert ws.recv().startswith("40{")
    finally:
        ws.close()
    assert_still_serving(server)


def ws_refused(url: str):
    """The WebSocket request must be refused (HTTP error) or closed before any open packet."""
    try:
        ws = websocket.create_connection(url, timeout=WAIT)
    except websocket.WebSocketBadStatusException as exc:
        assert 400 <= exc.status_code < 500, exc.status_code
        return exc.status_code
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        return None
    try:
        frames = ws_expect_closed(ws, timeout=WAIT)
        assert not any(bytes(f)[:1] == b"0" for f in frames), (
            f"server sent an open packet on a refused WebSocket: {frames!r}")
    finally:
        ws.close()
    return None


@pytest.mark.parametrize("query", [
    {"transport": "websocket"},
    {"EIO": "3", "transport": "websocket"},
    {"EIO": "4", "transport": "websocket", "sid": "no-such-session"},
], ids=["no-EIO", "EIO=3", "unknown-sid"])
def test_websocket_bad_query_is_refused(server, query):
    status = ws_refused(eio_url(server, "ws", **query))
    if status is not None:
        assert status == 400
    assert_still_serving(server)


def test_second_websocket_on_same_session_is_refused(server):
    sid, _ = polling_handshake(server)
    url = eio_url(server, "ws", EIO="4", transport="websocket", sid=sid)
    first = websocket.create_connection(url, timeout=WAIT)
    try:
        first.send("2probe")
        assert first.recv() == "3probe"
        first.send("5")
        ws_refused(url)
    finally:
        first.close()
    assert_still_serving(server)


# --- bad polling traffic ----------------------------------------------------


def assert_session_gone(server, sid):
    r = requests.get(eio_url(server, EIO="4", transport="polling", sid=sid), timeout=WAIT)
    assert_eio_error(r, 400, 1, "Session ID unknown")


@pytest.mark.parametrize("body", ["garbage", "9", "4ok\x1ezzz", "\x1e\x1e"], ids=["garbage", "bad-type", "bad-second-packet", "separators"])
def test_garbage_polling_body(server, body):
    sid, _ = polling_handshake(server)
    r = requests.post(eio_url(server, EIO="4", transport="polling", sid=sid), data=body.encode(), timeout=WAIT)
    assert r.status_code == 400, f"POST {body!r}: expected 400, got {r.status_code} {r.text!r}"
    assert_session_gone(server, sid)
    assert_still_serving(server)


def raw_http(port: int, request_head: bytes, body: bytes, timeout: float = WAIT) -> tuple[int | None, bytes]:
    """Sends a request, tolerating the server answering and closing early; returns (status, raw response)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(request_head)
            view = memoryview(body)
            for i in range(0, len(body), 65536):
                s.sendall(view[i:i + 65536])
        except OSError:
            pass  # the server may stop reading once it has answered
        data = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in data and time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        if not data.startswith(b"HTTP/1.1 ") and not data.startswith(b"HTTP/1.0 "):
            return None, data
        return int(data.split(b" ", 2)[1]), data
    finally:
        s.close()


def test_oversize_post(server):
    sid, info = polling_handshake(server)
    max_payload = info["maxPayload"]
    body = b"4" + b"x" * max_payload  # one byte over
    path = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode()
    status, raw = raw_http(server.port, head, body)
    assert status == 413, f"expected 413 for {len(body)} bytes > maxPayload {max_payload}, got {status}: {raw[:300]!r}"
    assert_session_gone(server, sid)
    assert_still_serving(server)


def test_post_at_max_payload_is_accepted(server):
    """A body of exactly maxPayload bytes is fine: connect to '/' and echo a big string."""
    sid, info = polling_handshake(server)
    url = eio_url(server, EIO="4", transport="polling", sid=sid)
    head, tail = '40\x1e42["echo","', '"]'
    filler = "x" * (info["maxPayload"] - len(head) - len(tail))
    body = (head + filler + tail).encode()
    assert len(body) == info["maxPayload"]
    r = requests.post(url, data=body, timeout=WAIT * 2)
    assert r.status_code == 200, (r.status_code, r.text[:200])
    assert r.text == "ok"
    packets = []
    deadline = time.monotonic() + WAIT
    while not any(p.startswith('42["echo"') for p in packets) and time.monotonic() < deadline:
        r = requests.get(url, timeout=WAIT)
        assert r.status_code == 200, (r.status_code, r.text[:200])
        packets += r.text.split("\x1e")
    echoed = [p for p in packets if p.startswith('42["echo"')]
    assert echoed == ['42["echo","' + filler + '"]'], [p[:80] for p in packets]


def test_overlapping_get_requests(server):
    sid, _ = polling_handshake(server)
    url = eio_url(server, EIO="4", transport="polling", sid=sid)
    first = {}

    def long_poll():
        try:
            first["resp"] = requests.get(url, timeout=WAIT * 2)
        except Exception as exc:  # noqa: BLE001
            first["error"] = exc

    t = threading.Thread(target=long_poll)
    t.start()
    time.sleep(0.3)
    second = requests.get(url, timeout=WAIT)
    assert second.status_code == 400, (second.status_code, second.text)
    t.join(WAIT)
    assert not t.is_alive(), "the first long-poll GET must be released when the session is closed"
    assert_session_gone(server, sid)
    assert_still_serving(server)


def test_overlapping_post_requests(server):
    """A second POST while the first is still being received: 400 and the session closes."""
    sid, _ = polling_handshake(server)
    path = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    body = b"4" + b"y" * 1000
    # first POST: headers and half of the body, then hold it open
    s = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    try:
        s.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain;charset=UTF-8\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:500])
        time.sleep(0.3)
        second = requests.post(eio_url(server, EIO="4", transport="polling", sid=sid), data="4second", timeout=WAIT)
        assert second.status_code == 400, (second.status_code, second.text)
    finally:
        s.close()
    assert_session_gone(server, sid)
    assert_still_serving(server)


# --- bad WebSocket frames ---------------------------------------------------


@pytest.mark.parametrize("frame", ["garbage", "", "7", "x2"], ids=["garbage", "empty", "type-7", "x2"])
def test_garbage_websocket_text_frame(server, frame):
    ws = ws_open(server)
    try:
        assert ws.recv().startswith("0")
        ws.send(frame)
        ws_expect_closed(ws)
    finally:
        ws.close()
    assert_still_serving(server)


def test_invalid_utf8_text_frame(server):
    ws = ws_open(server)
    try:
        assert ws.recv().startswith("0")
        ws.send(b"4\xff\xfe\xfd", opcode=websocket.ABNF.OPCODE_TEXT)
        ws_expect_closed(ws)
    finally:
        ws.close()
    assert_still_serving(server)


def test_garbage_after_upgrade(server):
    sid, _ = polling_handshake(server)
    ws = websocket.create_connection(eio_url(server, "ws", EIO="4", transport="websocket", sid=sid), timeout=WAIT)
    try:
        ws.send("2probe")
        assert ws.recv() == "3probe"
        ws.send("5")
        ws.send("garbage")
        ws_expect_closed(ws)
    finally:
        ws.close()
    assert_session_gone(server, sid)
    assert_still_serving(server)


def test_oversize_websocket_message(server):
    """A WebSocket message over maxPayload closes the connection (the reference's ws closes with 1009)."""
    ws = ws_open(server)
    try:
        opened = ws.recv()
        max_payload = json.loads(opened[1:])["maxPayload"]
        ws.send("4" + "w" * max_payload)
        ws_expect_closed(ws)
    finally:
        ws.close()
    assert_still_serving(server)
