"""A WebSocket upgrade sent as the second request of a keep-alive connection, as a reverse proxy
with an upstream connection pool (nginx `keepalive`, HAProxy `http-reuse`, Envoy) sends it.

Known server limitation (Sources/EngineIO/Transport/EngineIOChannel.swift): the instance only
upgrades on a connection's first request and answers a later one `307` to the same (relative)
URL with `Connection: close`. Browsers open a fresh connection for every WebSocket, so they are
not affected directly; through such a proxy the 307 reaches the client, which cannot follow it
(browsers fail the WebSocket, websocket-client raises "Invalid redirect target"). This is why
deploy/nginx/auction.conf.template has no upstream `keepalive`. Strict xfail: when the server
upgrades on reused connections, this test passes, fails as XPASS, and the marker (and the note
in the template) can go."""

from __future__ import annotations

import base64
import os
import socket

import pytest


def read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="instances answer 307 to a WebSocket upgrade on a reused keep-alive "
                                       "connection (EngineIOChannel); see the module docstring")
def test_websocket_upgrade_as_second_request_of_a_connection(one, api):
    from service_helpers import new_user
    user = new_user(api, name="Reuse Ruth")
    with socket.create_connection(("127.0.0.1", one.port), timeout=10) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{one.port}\r\n\r\n".encode())
        head = read_head(sock)
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        length = int([line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")][0])
        body = head.split(b"\r\n\r\n", 1)[1]
        while len(body) < length:
            body += sock.recv(4096)
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{one.port}\r\n"
                      f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nAuthorization: Bearer {user.token}\r\n\r\n").encode())
        head = read_head(sock)
        assert head.startswith(b"HTTP/1.1 101"), f"upgrade on a reused connection: {head[:300]!r}"
