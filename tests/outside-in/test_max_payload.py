"""--max-payload: advertised in the handshake and enforced on both transports."""

import pytest
import requests

from sio_helpers import (
    WAIT,
    assert_eio_error,
    assert_still_serving,
    eio_url,
    polling_handshake,
    ws_expect_closed,
    ws_socketio_connect,
)

MAX_PAYLOAD = 1000
SERVER_ARGS = ["--max-payload", str(MAX_PAYLOAD)]


def test_handshake_advertises_max_payload(server):
    _, info = polling_handshake(server)
    assert info["maxPayload"] == MAX_PAYLOAD


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_messages_under_the_limit_work(clients, transport):
    c = clients(transports=[transport])
    text = "z" * 900
    assert c.call("echo", text) == text


@pytest.mark.parametrize("extra", [1, 5000])
def test_oversize_polling_post_is_413_and_closes_session(server, extra):
    sid, _ = polling_handshake(server)
    url = eio_url(server, EIO="4", transport="polling", sid=sid)
    body = b"4" + b"x" * (MAX_PAYLOAD - 1 + extra)
    try:
        r = requests.post(url, data=body, timeout=WAIT)
    except requests.ConnectionError as exc:
        pytest.fail(f"server dropped the connection instead of answering 413: {exc}")
    assert r.status_code == 413, (r.status_code, r.text[:200])
    r = requests.get(url, timeout=WAIT)
    assert_eio_error(r, 400, 1, "Session ID unknown")
    assert_still_serving(server)


def test_oversize_websocket_message_closes_connection(server):
    ws = ws_socketio_connect(server)
    try:
        ws.send('42["echo","' + "y" * MAX_PAYLOAD + '"]')
        ws_expect_closed(ws)
    finally:
        ws.close()
    assert_still_serving(server)
