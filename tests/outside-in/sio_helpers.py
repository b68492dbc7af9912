"""Shared helpers for the outside-in suite: a demo-server process, a recording
python-socketio client, and raw Engine.IO access over HTTP and WebSocket.

Every wait here is bounded; nothing blocks forever."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import requests
import socketio
import websocket

from handlers_in_flight import HandlersInFlight

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT = 5.0  # default seconds for any single expected event


def demo_server_binary() -> Path:
    bin_dir = Path(os.environ.get("BIN_DIR", ".build/debug"))
    if not bin_dir.is_absolute():
        bin_dir = REPO_ROOT / bin_dir
    return bin_dir / "socketio-demo-server"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class DemoServer:
    """One `socketio-demo-server` process on a free loopback port."""

    def __init__(self, args: list[str], log_path: Path):
        self.args = list(args)
        self.log_path = log_path
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        binary = demo_server_binary()
        if not binary.exists():
            raise RuntimeError(
                f"{binary} does not exist: build it first (make build / swift build --build-tests)")
        self.port = free_port()
        cmd = [str(binary), "--port", str(self.port), *self.args]
        self._log = open(self.log_path, "wb")
        self._log.write(("$ " + " ".join(cmd) + "\n").encode())
        self._log.flush()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"demo server exited with {self.proc.returncode} before listening:\n{self.log_text()}")
            if port_open(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"demo server did not open port {self.port} within {timeout}s:\n{self.log_text()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        """Stops the process; returns its exit code if it had already exited by itself."""
        early = None
        if self.proc is not None:
            early = self.proc.poll()
            if early is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return early

    def log_text(self, limit: int = 20000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return "(no log)"
        text = data.decode("utf-8", "replace")
        return text if len(text) <= limit else "...(truncated)...\n" + text[-limit:]


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
                 transports=None, auth=None, query: dict | None = None, listen=()):
        self.server = server
        self.namespaces = list(namespaces)
        self.transports = transports
        self.auth = auth
        self.query = query
        self.sio = socketio.Client(reconnection=False, request_timeout=5)
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
                self.sio.disconnect()
        except Exception:  # noqa: BLE001 - teardown must not mask the test result
            pass


def wait_until(predicate, timeout: float = WAIT, interval: float = 0.02, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


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
