"""A WebSocket upgrade sent as a later request of a keep-alive connection, as a reverse proxy
with an upstream connection pool (nginx `keepalive`, HAProxy `http-reuse`, Envoy) sends it: the
upgrade gets its `101` on that connection and the session goes on over the WebSocket.

Once straight to an instance, once through nginx with deploy/nginx's configuration, whose
upstreams keep idle connections (`keepalive`): there the upgrade of a polling session rides the
connection nginx kept from the session's POST (the same nginx worker, since both come over one
client connection, and the same upstream group, the session's instance)."""

from __future__ import annotations

import json
import socket

from support.raw_upgrade import read_response, upgrade


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


def test_a_polling_session_upgrades_through_nginx_on_a_pooled_connection(cluster, api):
    from service_helpers import new_item, new_user
    user = new_user(api, name="Pooled Pia")
    item = new_item(api, user)
    host = f"127.0.0.1:{cluster.lb.port}"
    auth = f"Authorization: Bearer {user.token}\r\n"
    with socket.create_connection(("127.0.0.1", cluster.lb.port), timeout=10) as sock:
        sock.sendall(f"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n".encode())
        head, body = read_response(sock)
        assert head.startswith(b"HTTP/1.1 200") and body.startswith(b"0{"), (head, body)
        sid = json.loads(body[1:])["sid"]
        connect = ("40" + json.dumps({"itemId": item["id"]})).encode()
        sock.sendall(f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: {host}\r\n{auth}"
                     f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(connect)}\r\n\r\n".encode() + connect)
        head, body = read_response(sock)
        assert head.startswith(b"HTTP/1.1 200") and body == b"ok", (head, body)
        frames = upgrade(sock, f"/socket.io/?EIO=4&transport=websocket&sid={sid}", host,
                         {"Authorization": f"Bearer {user.token}"})
        frames.send("2probe")
        assert frames.next_text() == "3probe"
        frames.send("5")
        # What the connect queued for the next poll comes over the WebSocket now.
        connected = frames.next_text()
        assert connected.startswith('40{"sid":'), connected
        name, state = json.loads(frames.next_text()[2:])
        assert name == "auction:state" and state["item"]["id"] == item["id"], (name, state)
