"""permessage-deflate (RFC 7692) with `--per-message-deflate`, over a raw WebSocket that offers
it: negotiated without context takeover (server_max_window_bits honoured, offers we cannot keep
refused), messages from 1 KiB compressed (RSV1) and smaller ones not, compressed messages from
the client (whole and fragmented) inflated, the upgrade of a polling session negotiating too;
a bad deflate stream (1007), one inflating past maxPayload (1009) and RSV1 where it is not
allowed (1002) close that connection only."""

from __future__ import annotations

import json
import os
import socket
import struct
import zlib

import pytest

from sio_helpers import WAIT, assert_still_serving, polling_handshake
from support.raw_upgrade import read_response, send_upgrade

SERVER_ARGS = ["--per-message-deflate"]
OFFER = "permessage-deflate; client_max_window_bits"
AGREED = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
BIG = "€" * 1000  # 3,000 bytes of UTF-8


def deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def inflate(data: bytes) -> bytes:
    return zlib.decompressobj(-15).decompress(data + b"\x00\x00\xff\xff")


class RawWebSocket:
    """Frames by hand: masked to the server, RSV1 and fragments as the test wants; frames from
    the server with their RSV1 bit."""

    def __init__(self, sock: socket.socket, head: str, buffered: bytes):
        self.sock, self.head, self.buf = sock, head, buffered
        sock.settimeout(WAIT)

    def extensions(self) -> str | None:
        for line in self.head.split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "sec-websocket-extensions":
                return value.strip()
        return None

    def send_frame(self, opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False) -> None:
        first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = bytes([first, 0x80 | n])
        elif n < 65536:
            header = bytes([first, 0x80 | 126]) + struct.pack(">H", n)
        else:
            header = bytes([first, 0x80 | 127]) + struct.pack(">Q", n)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send_text(self, text: str, compress: bool = False, fragments: int = 1) -> None:
        payload = text.encode()
        if compress:
            payload = deflate(payload)
        size = -(-len(payload) // fragments)
        parts = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
        for i, part in enumerate(parts):
            self.send_frame(0x1 if i == 0 else 0x0, part, fin=i == len(parts) - 1, rsv1=compress and i == 0)

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed by the server; had {self.buf[:100]!r}")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self) -> tuple[int, bool, bytes]:
        """(opcode, rsv1, payload) of the next frame; the server's frames are whole, unmasked."""
        first, second = self._take(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack(">H", self._take(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", self._take(8))[0]
        assert first & 0x80 and not second & 0x80, (first, second)
        return first & 0x0F, bool(first & 0x40), self._take(length)

    def recv_text(self) -> tuple[str, bool]:
        """The next text message (pings answered) and whether it came compressed."""
        while True:
            opcode, compressed, payload = self.recv_frame()
            assert opcode == 0x1, (opcode, payload[:80])
            text = (inflate(payload) if compressed else payload).decode()
            if text == "2":
                self.send_text("3")
                continue
            return text, compressed

    def expect_close(self, code: int) -> None:
        while True:
            opcode, _, payload = self.recv_frame()
            if opcode == 0x8:
                assert struct.unpack(">H", payload[:2])[0] == code, payload
                return


def open_ws(server, offer: str | None = OFFER, target: str = "/socket.io/?EIO=4&transport=websocket") -> RawWebSocket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    headers = {"Sec-WebSocket-Extensions": offer} if offer else {}
    head, rest = send_upgrade(sock, target, "127.0.0.1", headers)
    assert head.startswith("HTTP/1.1 101"), head
    return RawWebSocket(sock, head, rest)


def connected(server, offer: str | None = OFFER) -> RawWebSocket:
    ws = open_ws(server, offer)
    opened, compressed = ws.recv_text()
    assert opened.startswith("0{") and not compressed
    ws.send_text("40")
    reply, compressed = ws.recv_text()
    assert reply.startswith('40{"sid":') and not compressed, "a small message goes uncompressed"
    welcome, _ = ws.recv_text()
    assert welcome.startswith('42["welcome"'), welcome
    return ws


def echo_packet(text: str) -> str:
    return "42" + json.dumps(["echo", text], ensure_ascii=False, separators=(",", ":"))


def test_the_offer_is_accepted_without_context_takeover(server):
    ws = open_ws(server)
    try:
        assert ws.extensions() == AGREED
    finally:
        ws.sock.close()


def test_a_smaller_server_window_is_honoured(server):
    ws = open_ws(server, "permessage-deflate; server_max_window_bits=10")
    try:
        assert ws.extensions() == AGREED + "; server_max_window_bits=10"
    finally:
        ws.sock.close()


@pytest.mark.parametrize("offer", [
    "permessage-deflate; server_max_window_bits=8",
    "permessage-deflate; unknown_parameter",
    "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
    "x-webkit-deflate-frame",
])
def test_an_offer_we_cannot_keep_is_not_accepted(server, offer):
    ws = connected(server, offer)
    try:
        assert ws.extensions() is None
        ws.send_text(echo_packet(BIG))
        assert ws.recv_text() == (echo_packet(BIG), False)
    finally:
        ws.sock.close()


def test_the_first_acceptable_offer_wins(server):
    ws = open_ws(server, "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=12")
    try:
        assert ws.extensions() == AGREED + "; server_max_window_bits=12"
    finally:
        ws.sock.close()


def test_big_messages_come_compressed_and_small_ones_do_not(server):
    ws = connected(server)
    try:
        ws.send_text(echo_packet(BIG))
        opcode, compressed, payload = ws.recv_frame()
        assert opcode == 0x1 and compressed, "a 3 KB message should come compressed"
        assert inflate(payload).decode() == echo_packet(BIG)
        assert len(payload) < len(echo_packet(BIG).encode()) // 4
        ws.send_text(echo_packet("small"))
        assert ws.recv_text() == (echo_packet("small"), False)
    finally:
        ws.sock.close()


@pytest.mark.parametrize("fragments", [1, 3])
def test_compressed_messages_from_the_client_are_inflated(server, fragments):
    ws = connected(server)
    try:
        ws.send_text(echo_packet(BIG), compress=True, fragments=fragments)
        assert ws.recv_text() == (echo_packet(BIG), True)
        ws.send_text(echo_packet("tiny"), compress=True)
        assert ws.recv_text() == (echo_packet("tiny"), False)
    finally:
        ws.sock.close()


def test_a_broadcast_reaches_compressing_and_plain_sockets_alike(server):
    room = "deflate-room"
    compressing, plain = connected(server), connected(server, offer=None)
    try:
        for ws in (compressing, plain):
            ws.send_text('421["join","%s"]' % room)
            ack, _ = ws.recv_text()
            assert ack.startswith("431["), ack
        compressing.send_text('422["broadcast",%s]' % json.dumps({"room": room, "event": "news", "data": BIG}))
        expected = "42" + json.dumps(["news", BIG], ensure_ascii=False, separators=(",", ":"))
        got = {}
        for name, ws in (("compressing", compressing), ("plain", plain)):
            texts = [ws.recv_text() for _ in range(2 if name == "compressing" else 1)]
            got[name] = [t for t in texts if t[0].startswith('42["news"')]
        assert got["compressing"] == [(expected, True)]
        assert got["plain"] == [(expected, False)]
    finally:
        compressing.sock.close()
        plain.sock.close()


def test_the_upgrade_of_a_polling_session_negotiates_too(server):
    sid, _ = polling_handshake(server)
    ws = open_ws(server, target=f"/socket.io/?EIO=4&transport=websocket&sid={sid}")
    try:
        assert ws.extensions() == AGREED
        ws.send_text("2probe")
        assert ws.recv_text() == ("3probe", False)
        ws.send_text("5")
        ws.send_text("40")
        reply, _ = ws.recv_text()
        assert reply.startswith('40{"sid":'), reply
        ws.recv_text()  # welcome
        ws.send_text(echo_packet(BIG), compress=True)
        assert ws.recv_text() == (echo_packet(BIG), True)
    finally:
        ws.sock.close()


@pytest.mark.parametrize("send, code", [
    pytest.param(lambda ws: ws.send_frame(0x1, b"\xff\xff\xff\xff garbage", rsv1=True), 1007, id="a bad deflate stream"),
    pytest.param(lambda ws: ws.send_frame(0x1, deflate(b"4" + b"0" * 2_000_000), rsv1=True), 1009,
                 id="inflating past maxPayload"),
    pytest.param(lambda ws: ws.send_frame(0x9, b"ping", rsv1=True), 1002, id="a compressed control frame"),
])
def test_bad_compressed_input_closes_that_connection_only(server, send, code):
    bystander = connected(server)
    ws = connected(server)
    try:
        send(ws)
        ws.expect_close(code)
    finally:
        ws.sock.close()
    bystander.send_text(echo_packet("still here"))
    assert bystander.recv_text() == (echo_packet("still here"), False)
    bystander.sock.close()
    assert_still_serving(server)


def test_rsv1_without_the_extension_is_a_protocol_error(server):
    ws = connected(server, offer=None)
    try:
        ws.send_frame(0x1, deflate(echo_packet("x").encode()), rsv1=True)
        ws.expect_close(1002)
    finally:
        ws.sock.close()
