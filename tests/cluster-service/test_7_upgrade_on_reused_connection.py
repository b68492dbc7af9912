"""A WebSocket upgrade sent as the second request of a keep-alive connection, as a reverse proxy
with an upstream connection pool (nginx `keepalive`, HAProxy `http-reuse`, Envoy) sends it.

Expected, as the contract has it (WebSocket and the upgrade work for any conforming client):
the upgrade gets its `101` on that connection and the session goes on over the WebSocket (the
Engine.IO open packet, then the Socket.IO connection to an auction and its `auction:state`).

Known gap (Sources/EngineIO/Transport/EngineIOChannel.swift): the instance only upgrades on a
connection's first request and answers a later one `307` to the same (relative) URL with
`Connection: close`. Browsers open a fresh connection for every WebSocket, so they are not
affected directly; through such a proxy the 307 reaches the client, which cannot follow it
(browsers fail the WebSocket, websocket-client raises "Invalid redirect target"). This is why
deploy/nginx/auction.conf.template has no upstream `keepalive`.

Only that exact answer raises `KnownGap307`, the one exception the strict xfail accepts: a
failure to set up (user, item, the first request), another status, a bad `101` or a session
that does not go on fails the test. When the server upgrades on reused connections, the test
passes, the strict xfail reports it as XPASS (a failure), and the marker (and the note in the
template) can go."""

from __future__ import annotations

import json
import socket

import pytest

from support.raw_upgrade import KNOWN_GAP_REASON, KnownGap307, read_response, upgrade


@pytest.mark.xfail(strict=True, raises=KnownGap307, reason=KNOWN_GAP_REASON)
def test_websocket_upgrade_as_second_request_of_a_connection(one, api):
    from service_helpers import new_item, new_user
    user = new_user(api, name="Reuse Ruth")
    item = new_item(api, user)
    host = f"127.0.0.1:{one.port}"
    with socket.create_connection(("127.0.0.1", one.port), timeout=10) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        head, _ = read_response(sock)
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        frames = upgrade(sock, "/socket.io/?EIO=4&transport=websocket", host,
                         {"Authorization": f"Bearer {user.token}"})
        opened = frames.next_text()
        assert opened.startswith("0{") and json.loads(opened[1:])["sid"], opened
        frames.send("40" + json.dumps({"itemId": item["id"]}))
        connected = frames.next_text()
        assert connected.startswith('40{"sid":'), connected
        name, state = json.loads(frames.next_text()[2:])
        assert name == "auction:state" and state["item"]["id"] == item["id"], (name, state)
