"""Engine options a client or browser observes: the `io` cookie on the polling handshake and
the 101 of a WebSocket-first session, CORS options (reflected origin with credentials, allowed
and exposed headers, max age, foreign origins refused), upgradeTimeout (a WebSocket that does not
finish its upgrade is closed and the session goes on polling), connection errors with Node's
codes and messages, and the connection under a socket (transport, upgrade event, address)."""

import json
import uuid

import requests
import websocket

from sio_helpers import WAIT, Client, eio_url, polling_handshake, ws_open, ws_recv_text

ALLOWED = "http://allowed.test"
SERVER_ARGS = ["--cookie", "--upgrade-timeout", "500", "--cors-origin", ALLOWED, "--cors-max-age", "600",
               "--cors-allowed-header", "X-Token", "--cors-exposed-header", "X-Demo"]


def test_the_polling_handshake_sets_the_io_cookie(server):
    r = requests.get(eio_url(server, EIO="4", transport="polling"), timeout=WAIT)
    sid = json.loads(r.text.split("\x1e")[0][1:])["sid"]
    assert r.headers["Set-Cookie"] == f"io={sid}; Path=/; HttpOnly; SameSite=Lax"


def test_a_websocket_first_session_gets_the_cookie_in_its_101(server):
    ws = ws_open(server)
    try:
        sid = json.loads(ws_recv_text(ws)[1:])["sid"]
        assert ws.getheaders()["set-cookie"] == f"io={sid}; Path=/; HttpOnly; SameSite=Lax"
    finally:
        ws.close()


def test_a_preflight_gets_the_configured_cors_answer(server):
    r = requests.options(eio_url(server, EIO="4", transport="polling"), timeout=WAIT,
                         headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST",
                                  "Access-Control-Request-Headers": "X-Other"})
    assert r.status_code == 204, (r.status_code, r.text)
    assert r.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert r.headers["Access-Control-Allow-Headers"] == "X-Token", "the configured list, not the request's"
    assert r.headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
    assert r.headers["Access-Control-Max-Age"] == "600"
    assert "Origin" in r.headers["Vary"]


def test_an_allowed_origin_is_reflected_with_the_exposed_headers(server):
    r = requests.get(eio_url(server, EIO="4", transport="polling"), headers={"Origin": ALLOWED}, timeout=WAIT)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert r.headers["Access-Control-Expose-Headers"] == "X-Demo"


def test_a_foreign_origin_is_refused_and_reported(server):
    marker = uuid.uuid4().hex
    r = requests.get(eio_url(server, EIO="4", transport="polling", m=marker),
                     headers={"Origin": "http://elsewhere.test"}, timeout=WAIT)
    assert r.status_code == 403 and r.json() == {"code": 4, "message": "Forbidden"}, (r.status_code, r.text)
    assert "Access-Control-Allow-Origin" not in r.headers
    assert reported(server, marker) == [(4, "Forbidden")]


def reported(server, marker):
    c = Client(server).connect()
    try:
        return [(e["code"], e["message"]) for e in c.call("connection-errors", marker)]
    finally:
        c.close()


def test_refused_requests_are_reported_with_nodes_codes(server):
    marker = uuid.uuid4().hex
    requests.get(eio_url(server, EIO="3", transport="polling", m=marker), timeout=WAIT)
    requests.get(eio_url(server, EIO="4", transport="carrier-pigeon", m=marker), timeout=WAIT)
    requests.get(eio_url(server, EIO="4", transport="polling", sid="no-such-session", m=marker), timeout=WAIT)
    requests.post(eio_url(server, EIO="4", transport="polling", m=marker), data="40", timeout=WAIT)
    try:
        websocket.create_connection(eio_url(server, "ws", EIO="4", transport="websocket", sid="nope", m=marker),
                                    timeout=WAIT)
    except websocket.WebSocketBadStatusException as exc:
        assert exc.status_code == 400
    else:
        raise AssertionError("an upgrade of an unknown session was accepted")
    assert reported(server, marker) == [
        (5, "Unsupported protocol version"), (0, "Transport unknown"), (1, "Session ID unknown"),
        (2, "Bad handshake method"), (1, "Session ID unknown"),
    ]


def test_a_session_s_own_errors_are_not_connection_errors(server):
    """Node reports handshake and routing refusals only, not what goes wrong inside a session."""
    marker = uuid.uuid4().hex
    sid, _ = polling_handshake(server)
    bad = requests.post(eio_url(server, EIO="4", transport="polling", sid=sid, m=marker), data="x" * 10, timeout=WAIT)
    assert bad.status_code == 400
    assert reported(server, marker) == []


def test_a_websocket_that_does_not_finish_its_upgrade_is_closed_and_polling_goes_on(server):
    sid, _ = polling_handshake(server)
    ws = ws_open(server, sid=sid)
    try:
        ws.settimeout(WAIT)
        # No probe: past upgradeTimeout (500 ms) the server closes this WebSocket.
        opcode, _ = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE, opcode
    finally:
        ws.close()
    # The session is still there, on polling: a CONNECT posted now is answered on the next GET.
    post = requests.post(eio_url(server, EIO="4", transport="polling", sid=sid), data="40", timeout=WAIT)
    assert post.status_code == 200 and post.text == "ok", (post.status_code, post.text)
    got = requests.get(eio_url(server, EIO="4", transport="polling", sid=sid), timeout=WAIT)
    assert got.status_code == 200 and got.text.startswith('40{"sid":'), got.text


def test_the_connection_under_a_socket_tells_its_transport_and_upgrade(server, clients):
    """By hand, so the socket is connected (and listening for the upgrade) before it happens."""
    sid, _ = polling_handshake(server)
    assert requests.post(eio_url(server, EIO="4", transport="polling", sid=sid), data="40", timeout=WAIT).text == "ok"
    got = requests.get(eio_url(server, EIO="4", transport="polling", sid=sid), timeout=WAIT).text
    assert got.startswith('40{"sid":'), got
    ws = ws_open(server, sid=sid)
    try:
        ws.send("2probe")
        assert ws_recv_text(ws) == "3probe"
        ws.send("5")
        assert ws_recv_text(ws) == '42["upgraded","websocket"]'
        ws.send('421["conn"]')
        assert ws_recv_text(ws) == '431[{"transport":"websocket","remoteAddress":"127.0.0.1"}]'
    finally:
        ws.close()
    polling = clients(transports=["polling"])
    assert polling.call("conn") == {"transport": "polling", "remoteAddress": "127.0.0.1"}
