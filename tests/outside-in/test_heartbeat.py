"""Heartbeat with short intervals: clients that answer pings stay connected,
silent ones are dropped after pingInterval + pingTimeout."""

import time

import pytest
import requests

from sio_helpers import (
    WAIT,
    assert_eio_error,
    assert_still_serving,
    eio_url,
    polling_handshake,
    ws_expect_closed,
    ws_open,
)

PING_INTERVAL, PING_TIMEOUT = 300, 200
SERVER_ARGS = ["--ping-interval", str(PING_INTERVAL), "--ping-timeout", str(PING_TIMEOUT)]


def test_handshake_reports_configured_heartbeat(server):
    _, info = polling_handshake(server)
    assert info["pingInterval"] == PING_INTERVAL
    assert info["pingTimeout"] == PING_TIMEOUT
    assert set(info) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], None])
def test_responsive_client_stays_connected(clients, transports):
    c = clients(transports=transports)
    time.sleep(1.6)  # about five ping cycles
    assert c.sio.connected
    assert c.rec.count("disconnect") == 0
    assert c.call("echo", "alive") == "alive"


def test_websocket_without_pong_is_closed(server):
    ws = ws_open(server)
    try:
        opened = ws.recv()
        assert opened.startswith("0"), opened
        started = time.monotonic()
        ws.settimeout(WAIT)
        assert ws.recv() == "2", "expected a ping"
        # do not answer: the server must give up after pingTimeout
        ws_expect_closed(ws, timeout=2.0)
        elapsed = time.monotonic() - started
        assert elapsed >= (PING_INTERVAL + PING_TIMEOUT) / 1000 * 0.8, f"closed too early ({elapsed:.2f}s)"
    finally:
        ws.close()
    assert_still_serving(server)


def test_websocket_pings_at_interval(server):
    ws = ws_open(server)
    try:
        ws.recv()
        stamps = []
        ws.settimeout(WAIT)
        for _ in range(3):
            assert ws.recv() == "2"
            stamps.append(time.monotonic())
            ws.send("3")
        gaps = [b - a for a, b in zip(stamps, stamps[1:])]
        for gap in gaps:
            assert 0.2 <= gap <= 0.6, f"ping gaps {gaps}, expected about {PING_INTERVAL} ms"
    finally:
        ws.close()


def test_polling_session_without_pong_expires(server):
    sid, _ = polling_handshake(server)
    time.sleep((PING_INTERVAL + PING_TIMEOUT) / 1000 + 0.5)
    r = requests.get(eio_url(server, EIO="4", transport="polling", sid=sid), timeout=WAIT)
    assert_eio_error(r, 400, 1, "Session ID unknown")
    assert_still_serving(server)


def test_polling_ping_pong_keeps_session(server):
    sid, _ = polling_handshake(server)
    url = eio_url(server, EIO="4", transport="polling", sid=sid)
    started = time.monotonic()
    for i in range(3):
        r = requests.get(url, timeout=WAIT)
        t = time.monotonic() - started
        assert (r.status_code, r.text) == (200, "2"), f"GET #{i} at {t:.3f}s: {r.status_code} {r.text!r}"
        r = requests.post(url, data="3", timeout=WAIT)
        t = time.monotonic() - started
        assert (r.status_code, r.text) == (200, "ok"), f"POST pong #{i} at {t:.3f}s: {r.status_code} {r.text!r}"
