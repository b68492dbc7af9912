"""A WebSocket upgrade by hand on a raw socket that has already carried a request, and the
text frames after it: what a proxy with pooled upstream connections (nginx `keepalive`) and
aiohttp send. Used by the outside-in suite (test_transports.py) and the cluster-service suite
(test_7_upgrade_on_reused_connection.py)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


def read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The response head (up to the blank line) and whatever of the body came with it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """A whole response with a Content-Length body; asserts the connection stays open."""
    head, body = read_head(sock)
    assert not re.search(rb"(?im)^connection: *close\r?$", head), f"the response closes the connection: {head!r}"
    length = int(re.search(rb"(?im)^content-length: *(\d+)\r?$", head).group(1))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed inside the body: {head!r}"
        body += chunk
    return head, body[:length]


class Frames:
    """WebSocket text frames both ways: masked to the server, unmasked and unfragmented back."""

    def __init__(self, sock: socket.socket, buffered: bytes = b""):
        self.sock, self.buf = sock, buffered

    def send(self, text: str) -> None:
        payload = text.encode()
        assert len(payload) < 126
        mask = os.urandom(4)
        self.sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask
                          + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"the server closed the WebSocket; had {self.buf[:200]!r}")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def next_text(self) -> str:
        first, second = self._take(2)
        assert first == 0x81 and not second & 0x80, f"expected an unmasked text frame, got {first:#x} {second:#x}"
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(self._take(2), "big")
        elif length == 127:
            length = int.from_bytes(self._take(8), "big")
        return self._take(length).decode()


def send_upgrade(sock: socket.socket, target: str, host: str, headers: dict[str, str] | None = None,
                 key: str | None = None, version: str = "13") -> tuple[str, bytes]:
    """Sends an upgrade request for `target`; the answer's head as text and what came after it.
    `key` None makes a random Sec-WebSocket-Key, "" sends none."""
    key = base64.b64encode(os.urandom(16)).decode() if key is None else key
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    key_line = f"Sec-WebSocket-Key: {key}\r\n" if key else ""
    sock.sendall((f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"{key_line}Sec-WebSocket-Version: {version}\r\n{extra}\r\n").encode())
    head, rest = read_head(sock)
    return head.decode("latin-1"), rest


def upgrade(sock: socket.socket, target: str, host: str, headers: dict[str, str] | None = None) -> Frames:
    """Sends the upgrade request for `target` and checks the 101 (status, Sec-WebSocket-Accept)."""
    key = base64.b64encode(os.urandom(16)).decode()
    text, rest = send_upgrade(sock, target, host, headers, key=key)
    assert text.startswith("HTTP/1.1 101"), f"upgrade on a reused connection answered {text[:300]!r}"
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    assert re.search(rf"(?im)^sec-websocket-accept: *{re.escape(accept)}\r?$", text), text
    assert re.search(r"(?im)^upgrade: *websocket\r?$", text) and re.search(r"(?im)^connection: *upgrade\r?$", text), text
    return Frames(sock, rest)
