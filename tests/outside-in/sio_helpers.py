"""Helpers of the outside-in suite: a recording python-socketio client and raw Engine.IO access
over HTTP and WebSocket. The demo-server process and the waits are tests/support's.

Every wait here is bounded; nothing blocks forever."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import uuid

import engineio
import requests
import socketio
import websocket

from support.handlers_in_flight import HandlersInFlight
from support.servers import DemoServer
from support.waiting import WAIT, wait_until, poll


# ---------------------------------------------------------------------------
# python-socketio client with a recorder


class Recorder:
    """Thread-safe log of received events keyed by (namespace, event)."""

    def __init__(self):
        self._cond = threading.Condition()
        self.events: list[tuple[str, str, tuple]] = []

    def handler(self, namespace: str, event: str):
        def record(*args):
            with self._cond:
                self.events.append((namespace, event, args))
                self._cond.notify_all()
        return record

    def all(self, event: str, namespace: str = "/") -> list[tuple]:
        with self._cond:
            return [a for (ns, ev, a) in self.events if ns == namespace and ev == event]

    def count(self, event: str, namespace: str = "/") -> int:
        return len(self.all(event, namespace))

    def wait(self, event: str, namespace: str = "/", count: int = 1, timeout: float = WAIT,
             fail_on_disconnect: bool = True) -> list[tuple]:
        """Waits until at least `count` such events arrived; returns all of them.
        Fails at once if that namespace gets disconnected meanwhile (unless
        waiting for 'disconnect' itself)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [a for (ns, ev, a) in self.events if ns == namespace and ev == event]
                if len(got) >= count:
                    return got
                if fail_on_disconnect and event != "disconnect":
                    gone = [a for (ns, ev, a) in self.events if ns == namespace and ev == "disconnect"]
                    if gone:
                        raise AssertionError(
                            f"disconnected ({gone[0]!r}) while waiting for {count} x {event!r} on {namespace!r}; "
                            f"got {len(got)}; all events so far: {self.events!r}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out after {timeout}s waiting for {count} x {event!r} on {namespace!r}; "
                        f"got {len(got)}; all events so far: {self.events!r}")
                self._cond.wait(remaining)


RECORDED = ("welcome", "connect", "connect_error", "disconnect", "echo", "question")


class Client:
    """A `socketio.Client` (reconnection off) that records events per namespace: those it
    connects, and those in `listen` that it does not connect (to see what a server sends
    there all the same)."""

    def __init__(self, server: DemoServer, *, namespaces=("/",), events=(), handlers=None,
                 transports=None, auth=None, query: dict | None = None, listen=(), serializer: str = "default"):
        self.server = server
        self.namespaces = list(namespaces)
        self.transports = transports
        self.auth = auth
        self.query = query
        self.sio = socketio.Client(reconnection=False, request_timeout=5, serializer=serializer)
        self.in_flight = HandlersInFlight(self.sio.eio)
        self.rec = Recorder()
        handlers = dict(handlers or {})
        for ns in self.namespaces + [n for n in listen if n not in self.namespaces]:
            for ev in set(RECORDED) | set(events):
                if (ns, ev) in handlers:
                    continue
                self.sio.on(ev, self.rec.handler(ns, ev), namespace=ns)
        for (ns, ev), fn in handlers.items():
            self.sio.on(ev, fn, namespace=ns)

    @property
    def url(self) -> str:
        url = self.server.url
        if self.query:
            url += "?" + urllib.parse.urlencode(self.query)
        return url

    def connect(self, wait_welcome: bool = True) -> "Client":
        self.sio.connect(self.url, transports=self.transports, namespaces=self.namespaces,
                         auth=self.auth, wait_timeout=WAIT)
        if wait_welcome:
            for ns in self.namespaces:
                self.rec.wait("welcome", ns)
        return self

    def sid(self, namespace: str = "/") -> str:
        return self.sio.get_sid(namespace)

    def call(self, event, data=None, namespace="/", timeout=WAIT):
        return self.sio.call(event, data, namespace=namespace, timeout=timeout)

    def emit(self, event, data=None, namespace="/"):
        self.sio.emit(event, data, namespace=namespace)

    def settle(self, timeout: float = WAIT) -> None:
        """Waits until every message received so far has been handled (see HandlersInFlight)."""
        self.in_flight.wait_idle(timeout)

    def sync(self, namespace: str = "/") -> None:
        """A marker round trip on this connection: settle(), an `echo` with ack in `namespace`,
        settle(). The server handles one connection's packets in order (the acks this client's
        handlers sent included) and writes to it in order, so whatever it sent this client
        before handling the marker has been recorded."""
        self.settle()
        token = f"marker-{uuid.uuid4().hex[:8]}"
        assert self.call("echo", token, namespace=namespace) == token
        self.settle()

    def close(self):
        try:
            if self.sio.eio.state == "connected" or self.sio.connected:
                # python-engineio's writer stops sending once the state leaves "connected": a
                # disconnect while a POST is still out (an ack just sent, say) would leave its
                # DISCONNECT and close unsent, and wait for the long poll until the next ping.
                queue = getattr(self.sio.eio, "queue", None)
                if queue is not None:
                    poll(lambda: queue.unfinished_tasks == 0, WAIT)
                self.sio.disconnect()
        except Exception:  # noqa: BLE001 - teardown must not mask the test result
            pass


class Arrivals:
    """The Socket.IO packets of one `Client` in the order they arrived, taken on the Engine.IO
    receive path (the transport's read loop, one packet at a time): `Recorder.events` is in
    handler order, and python-socketio runs each message's handler on a thread of its own.
    Attach it before connecting to see the first packets. Text packets only (no binary)."""

    def __init__(self, client: "Client"):
        self._cond = threading.Condition()
        self.packets: list[tuple[int, str, int | None, object]] = []  # (type, namespace, id, data)
        eio = client.sio.eio
        original = eio._receive_packet

        def receive(pkt):
            if pkt.packet_type == engineio.packet.MESSAGE and isinstance(pkt.data, str):
                try:
                    p = socketio.packet.Packet(encoded_packet=pkt.data)
                except Exception:  # noqa: BLE001 - not ours to judge here; the client will
                    p = None
                if p is not None and not p.attachment_count:
                    with self._cond:
                        self.packets.append((p.packet_type, p.namespace or "/", p.id, p.data))
                        self._cond.notify_all()
            return original(pkt)

        eio._receive_packet = receive

    def events(self, namespace: str = "/") -> list[tuple[str, list]]:
        """(name, args) of each EVENT packet of `namespace`, in arrival order."""
        with self._cond:
            return [(d[0], list(d[1:])) for (t, ns, _, d) in self.packets
                    if t == socketio.packet.EVENT and ns == namespace and isinstance(d, list) and d]

    def acks(self, namespace: str = "/") -> list[list]:
        """The arguments of each ACK packet of `namespace`, in arrival order."""
        with self._cond:
            return [list(d or []) for (t, ns, _, d) in self.packets if t == socketio.packet.ACK and ns == namespace]

    def wait(self, predicate, timeout: float = WAIT, what: str = "packets"):
        """Waits until `predicate(self)` is truthy and returns it (bounded)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(self)
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}; arrived: {self.packets!r}")
                self._cond.wait(remaining)


def slow_then_fast_ack_order(c: "Client", namespace: str) -> list:
    """Emits `slow` (1.5 s) then `fast` with acks on `namespace`; the acks' arguments in the
    order they arrived (the demo's /parity handlers)."""
    arrivals = Arrivals(c)
    called = []
    c.sio.emit("slow", 1500, namespace=namespace, callback=lambda *a: called.append(a))
    c.sio.emit("fast", namespace=namespace, callback=lambda *a: called.append(a))
    order = arrivals.wait(lambda a: len(a.acks(namespace)) >= 2 and a.acks(namespace), timeout=WAIT + 1.5,
                          what="both acks")
    wait_until(lambda: len(called) == 2, message="both ack callbacks")
    assert sorted(called) == [("fast",), ("slow",)]
    return order


def never_answer(client: "Client", event: str) -> list:
    """Makes `client` take `event` without ever acknowledging it (python-socketio acknowledges
    every event that asks for it, with no arguments when no handler answers); returns the list
    that receives each such event's arguments."""
    seen: list = []
    original = client.sio._handle_event

    def handle(namespace, id, data):
        if data and data[0] == event:
            seen.append(tuple(data[1:]))
            return None
        return original(namespace, id, data)

    client.sio._handle_event = handle
    return seen


def assert_still_serving(server: DemoServer):
    """A fresh, normal client connects and gets its echo: the process keeps serving."""
    assert server.alive(), f"demo server process died:\n{server.log_text()}"
    c = Client(server)
    try:
        c.connect()
        assert c.call("echo", "still-alive") == "still-alive"
    finally:
        c.close()


# ---------------------------------------------------------------------------
# raw Engine.IO


def eio_url(server: DemoServer, scheme: str = "http", **query) -> str:
    base = server.url if scheme == "http" else server.ws_url
    return f"{base}/socket.io/?" + urllib.parse.urlencode(query)


def polling_handshake(server: DemoServer) -> tuple[str, dict]:
    r = requests.get(eio_url(server, EIO="4", transport="polling"), timeout=WAIT)
    assert r.status_code == 200, (r.status_code, r.text)
    first = r.text.split("\x1e")[0]
    assert first.startswith("0"), r.text
    info = json.loads(first[1:])
    return info["sid"], info


def assert_eio_error(resp: requests.Response, status: int, code: int, message: str | None = None):
    assert resp.status_code == status, f"expected HTTP {status}, got {resp.status_code} body={resp.text!r}"
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), f"error body should be JSON, Content-Type={ctype!r} body={resp.text!r}"
    body = resp.json()
    assert body.get("code") == code, f"expected code {code}, got body {body!r}"
    if message is not None:
        assert body == {"code": code, "message": message}, body


def ws_open(server: DemoServer, sockopt=(), **query) -> websocket.WebSocket:
    q = {"EIO": "4", "transport": "websocket", **query}
    return websocket.create_connection(eio_url(server, "ws", **q), timeout=WAIT, sockopt=sockopt)


def ws_recv_text(ws: websocket.WebSocket, timeout: float = WAIT) -> str:
    """Next Engine.IO text packet other than a ping (pings are answered)."""
    deadline = time.monotonic() + timeout
    while True:
        ws.settimeout(max(0.01, deadline - time.monotonic()))
        data = ws.recv()
        if data == "2":
            ws.send("3")
            continue
        return data


def ws_socketio_connect(server: DemoServer, namespace: str = "/") -> websocket.WebSocket:
    """Raw WebSocket session connected to a namespace, after its `welcome` event."""
    ws = ws_open(server)
    opened = ws_recv_text(ws)
    assert opened.startswith("0"), opened
    prefix = "" if namespace == "/" else namespace + ","
    ws.send("40" + prefix)
    connected = ws_recv_text(ws)
    assert connected.startswith("40" + prefix + "{"), connected
    welcome = ws_recv_text(ws)
    assert welcome.startswith("42" + prefix + '["welcome"'), welcome
    return ws


def ws_expect_closed(ws: websocket.WebSocket, timeout: float = WAIT) -> list:
    """Asserts the server closes the WebSocket within `timeout`; returns frames seen before."""
    seen = []
    deadline = time.monotonic() + timeout

    def shown():
        return [bytes(f[:120]) + (b"...(%d bytes)" % len(f) if len(f) > 120 else b"") for f in seen]

    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"WebSocket still open after {timeout}s; frames received: {shown()!r}")
        ws.settimeout(remaining)
        try:
            opcode, data = ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            raise AssertionError(f"WebSocket still open after {timeout}s; frames received: {shown()!r}") from None
        except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
            return seen
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return seen
        if opcode in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
            continue
        seen.append(data)
