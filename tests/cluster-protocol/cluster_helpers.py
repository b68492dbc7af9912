"""Helpers for the cluster-protocol suite: a throwaway Redis and two `socketio-demo-server`
instances joined through the Redis adapter (the processes of tests/support's servers, with what
this suite adds), recording python-socketio clients, a raw RESP connection to Redis, and a tiny
msgpack codec (notepack.io's smallest-format rules, wire spec §2.2).

Every wait here is bounded; nothing blocks forever."""

from __future__ import annotations

import base64
import json
import re
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import socketio

from support import servers
from support.checkout import REPO_ROOT, demo_server_binary
from support.handlers_in_flight import HandlersInFlight
from support.waiting import WAIT

FLUSH_EVENT = "flush-marker"  # the marker broadcast of flush()

# Adapter channels for namespace "/" with the default key (wire spec §1).
BROADCAST_CHANNEL = "socket.io#/#"
REQUEST_CHANNEL = "socket.io-request#/#"
RESPONSE_CHANNEL = "socket.io-response#/#"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ensure_demo_server_built(timeout: float = 1800.0) -> Path:
    """Builds the demo server with SwiftPM when the binary is missing (BIN_DIR .build/debug or
    .build/release only). SwiftPM may first wait for the build lock of a concurrent build."""
    binary = demo_server_binary()
    if binary.exists():
        return binary
    config = binary.parent.name
    if binary.parent.parent != REPO_ROOT / ".build" or config not in ("debug", "release"):
        raise RuntimeError(f"{binary} does not exist and BIN_DIR is not .build/debug or .build/release: build it first")
    cmd = ["swift", "build", "-c", config, "--product", "socketio-demo-server"]
    try:
        done = subprocess.run(cmd, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{' '.join(cmd)} did not finish within {timeout}s") from None
    if done.returncode != 0 or not binary.exists():
        out = (done.stdout + done.stderr).decode("utf-8", "replace")[-6000:]
        raise RuntimeError(f"{' '.join(cmd)} failed with {done.returncode}:\n{out}")
    return binary


# ---------------------------------------------------------------------------
# Redis (scripts/redis.sh)


class RedisServer(servers.RedisServer):
    """The module's throwaway Redis, with the adapter's view of it (PUBSUB NUMSUB, PUBLISH)."""

    script_timeout = 30.0
    cli_timeout = 5.0

    def numsub(self, channel: str = REQUEST_CHANNEL) -> int:
        with RawRedis(self.port) as r:
            reply = r.command("PUBSUB", "NUMSUB", channel)
        return int(reply[1])

    def publish(self, channel: str, payload: bytes) -> int:
        with RawRedis(self.port) as r:
            return r.command("PUBLISH", channel, payload)


class RedisError(Exception):
    pass


class RawRedis:
    """A minimal RESP2 connection to Redis over a plain socket (binary-safe, bounded waits)."""

    def __init__(self, port: int, timeout: float = WAIT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.timeout = timeout
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    @staticmethod
    def _encode(args) -> bytes:
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, (bytes, bytearray)) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        return b"".join(out)

    def send(self, *args) -> None:
        self.sock.sendall(self._encode(args))

    def command(self, *args, timeout: float | None = None):
        self.send(*args)
        reply = self.read_reply(timeout if timeout is not None else self.timeout)
        if isinstance(reply, RedisError):
            raise reply
        return reply

    def _fill(self, deadline: float):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no reply from Redis in time")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no reply from Redis in time") from None
        if not chunk:
            raise ConnectionError("Redis closed the connection")
        self.buf += chunk

    def _line(self, deadline: float) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n + 2:
            self._fill(deadline)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read_reply(self, timeout: float):
        deadline = time.monotonic() + timeout
        return self._reply(deadline)

    def _reply(self, deadline: float):
        line = self._line(deadline)
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n, deadline)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply(deadline) for _ in range(n)]
        raise RedisError(f"unexpected RESP line {line!r}")


class Subscriber:
    """A raw subscriber connection; collects message/pmessage pushes as
    (channel: str, payload: bytes, pattern: str | None), in arrival order."""

    def __init__(self, port: int):
        self.conn = RawRedis(port)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.conn.close()

    def subscribe(self, *channels: str):
        self.conn.send("SUBSCRIBE", *channels)
        for _ in channels:
            self._expect_confirmation(b"subscribe")

    def psubscribe(self, *patterns: str):
        self.conn.send("PSUBSCRIBE", *patterns)
        for _ in patterns:
            self._expect_confirmation(b"psubscribe")

    def _expect_confirmation(self, kind: bytes):
        reply = self.conn.read_reply(WAIT)
        assert isinstance(reply, list) and reply[0] == kind, reply

    def next(self, timeout: float = WAIT):
        """The next message, or None when none arrives within `timeout`."""
        deadline = time.monotonic() + timeout
        try:
            reply = self.conn._reply(deadline)
        except TimeoutError:
            return None
        if reply[0] == b"message":
            return reply[1].decode(), reply[2], None
        if reply[0] == b"pmessage":
            return reply[2].decode(), reply[3], reply[1].decode()
        raise AssertionError(f"unexpected push {reply!r}")

    def collect(self, predicate, count: int = 1, timeout: float = WAIT) -> list:
        """Messages matching predicate(channel, payload) until `count` of them arrived
        (AssertionError after `timeout`)."""
        deadline = time.monotonic() + timeout
        found, seen = [], []
        while len(found) < count:
            remaining = deadline - time.monotonic()
            msg = self.next(remaining) if remaining > 0 else None
            if msg is None:
                raise AssertionError(f"timed out after {timeout}s: {len(found)} of {count} matching messages; "
                                     f"other messages: {[(c, p[:200]) for c, p, _ in seen]!r}")
            (found if predicate(msg[0], msg[1]) else seen).append(msg)
        return found


# ---------------------------------------------------------------------------
# msgpack (notepack.io 3.0.1 subset: what the adapter uses)


class Ext:
    def __init__(self, code: int, data: bytes):
        self.code, self.data = code, data

    def __eq__(self, other):
        return isinstance(other, Ext) and (self.code, self.data) == (other.code, other.data)

    def __repr__(self):
        return f"Ext({self.code}, {self.data!r})"


class MsgpackError(ValueError):
    pass


def packb(value) -> bytes:
    """Smallest-format msgpack, as notepack.io writes: ints as ints, floats as float64,
    str as str, bytes as bin, dicts in insertion order."""
    out = bytearray()
    _pack(value, out)
    return bytes(out)


def _pack(v, out: bytearray):
    if v is None:
        out += b"\xc0"
    elif v is True:
        out += b"\xc3"
    elif v is False:
        out += b"\xc2"
    elif isinstance(v, int):
        if 0 <= v < 0x80:
            out.append(v)
        elif 0 <= v <= 0xFF:
            out += b"\xcc" + struct.pack(">B", v)
        elif 0 <= v <= 0xFFFF:
            out += b"\xcd" + struct.pack(">H", v)
        elif 0 <= v <= 0xFFFFFFFF:
            out += b"\xce" + struct.pack(">I", v)
        elif v >= 0:
            out += b"\xcf" + struct.pack(">Q", v)
        elif v >= -32:
            out += struct.pack(">b", v)
        elif v >= -0x80:
            out += b"\xd0" + struct.pack(">b", v)
        elif v >= -0x8000:
            out += b"\xd1" + struct.pack(">h", v)
        elif v >= -0x80000000:
            out += b"\xd2" + struct.pack(">i", v)
        else:
            out += b"\xd3" + struct.pack(">q", v)
    elif isinstance(v, float):
        out += b"\xcb" + struct.pack(">d", v)
    elif isinstance(v, str):
        b = v.encode("utf-8")
        n = len(b)
        if n < 32:
            out.append(0xA0 | n)
        elif n <= 0xFF:
            out += b"\xd9" + struct.pack(">B", n)
        elif n <= 0xFFFF:
            out += b"\xda" + struct.pack(">H", n)
        else:
            out += b"\xdb" + struct.pack(">I", n)
        out += b
    elif isinstance(v, (bytes, bytearray)):
        n = len(v)
        if n <= 0xFF:
            out += b"\xc4" + struct.pack(">B", n)
        elif n <= 0xFFFF:
            out += b"\xc5" + struct.pack(">H", n)
        else:
            out += b"\xc6" + struct.pack(">I", n)
        out += bytes(v)
    elif isinstance(v, (list, tuple)):
        n = len(v)
        if n < 16:
            out.append(0x90 | n)
        elif n <= 0xFFFF:
            out += b"\xdc" + struct.pack(">H", n)
        else:
            out += b"\xdd" + struct.pack(">I", n)
        for item in v:
            _pack(item, out)
    elif isinstance(v, dict):
        n = len(v)
        if n < 16:
            out.append(0x80 | n)
        elif n <= 0xFFFF:
            out += b"\xde" + struct.pack(">H", n)
        else:
            out += b"\xdf" + struct.pack(">I", n)
        for k, item in v.items():
            if not isinstance(k, str):
                raise TypeError(f"msgpack map keys must be strings here, got {k!r}")
            _pack(k, out)
            _pack(item, out)
    else:
        raise TypeError(f"cannot msgpack {type(v).__name__}")


def unpackb(data: bytes):
    """Decodes exactly one value: str -> str, bin -> bytes, map -> dict (wire order kept),
    ints -> int, floats -> float, ext -> Ext. Trailing bytes are an error, as in notepack."""
    value, pos = _unpack(memoryview(bytes(data)), 0)
    if pos != len(data):
        raise MsgpackError(f"{len(data) - pos} trailing bytes at offset {pos}")
    return value


def _take(mv, pos, n):
    if pos + n > len(mv):
        raise MsgpackError(f"truncated at offset {pos} (need {n} bytes)")
    return bytes(mv[pos:pos + n]), pos + n


def _unpack(mv, pos):
    b, pos = _take(mv, pos, 1)
    t = b[0]
    if t <= 0x7F:
        return t, pos
    if 0x80 <= t <= 0x8F:
        return _map(mv, pos, t & 0x0F)
    if 0x90 <= t <= 0x9F:
        return _array(mv, pos, t & 0x0F)
    if 0xA0 <= t <= 0xBF:
        raw, pos = _take(mv, pos, t & 0x1F)
        return raw.decode("utf-8"), pos
    if t >= 0xE0:
        return t - 0x100, pos
    fixed = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i",
             0xD3: ">q", 0xCA: ">f", 0xCB: ">d"}
    if t in fixed:
        fmt = fixed[t]
        raw, pos = _take(mv, pos, struct.calcsize(fmt))
        return struct.unpack(fmt, raw)[0], pos
    if t == 0xC0:
        return None, pos
    if t == 0xC2:
        return False, pos
    if t == 0xC3:
        return True, pos
    lengths = {0xC4: ">B", 0xC5: ">H", 0xC6: ">I", 0xD9: ">B", 0xDA: ">H", 0xDB: ">I",
               0xDC: ">H", 0xDD: ">I", 0xDE: ">H", 0xDF: ">I", 0xC7: ">B", 0xC8: ">H", 0xC9: ">I"}
    if t in lengths:
        fmt = lengths[t]
        raw, pos = _take(mv, pos, struct.calcsize(fmt))
        n = struct.unpack(fmt, raw)[0]
        if t in (0xC4, 0xC5, 0xC6):
            return _take(mv, pos, n)
        if t in (0xD9, 0xDA, 0xDB):
            raw, pos = _take(mv, pos, n)
            return raw.decode("utf-8"), pos
        if t in (0xDC, 0xDD):
            return _array(mv, pos, n)
        if t in (0xDE, 0xDF):
            return _map(mv, pos, n)
        code, pos = _take(mv, pos, 1)
        raw, pos = _take(mv, pos, n)
        return Ext(struct.unpack(">b", code)[0], raw), pos
    fixext = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}
    if t in fixext:
        code, pos = _take(mv, pos, 1)
        raw, pos = _take(mv, pos, fixext[t])
        return Ext(struct.unpack(">b", code)[0], raw), pos
    raise MsgpackError(f"reserved format byte 0x{t:02x} at offset {pos - 1}")


def _array(mv, pos, n):
    items = []
    for _ in range(n):
        item, pos = _unpack(mv, pos)
        items.append(item)
    return items, pos


def _map(mv, pos, n):
    out = {}
    for _ in range(n):
        key, pos = _unpack(mv, pos)
        if not isinstance(key, str):
            raise MsgpackError(f"non-string map key {key!r}")
        out[key], pos = _unpack(mv, pos)
    return out, pos


# ---------------------------------------------------------------------------
# demo server processes


class DemoServer(servers.DemoServer):
    """One `socketio-demo-server --redis URL --name NAME` process on a free loopback port."""

    stop_timeout = 10.0

    def __init__(self, name: str, redis_url: str, log_path: Path, extra_args: list[str] | None = None):
        super().__init__(["--redis", redis_url, "--name", name, *(extra_args or [])], log_path,
                         label=f"demo server {name}")
        self.name = name
        self.redis_url = redis_url
        self.killed = False  # killed on purpose by a test

    def kill(self) -> None:
        """SIGKILL, then reap (bounded)."""
        assert self.proc is not None
        self.killed = True
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int | None:
        """Stops the process; returns its exit code if it had exited by itself (not killed by a test)."""
        early = super().stop()
        return None if self.killed else early


class Cluster:
    """Redis plus two demo servers, `one` and `two`."""

    def __init__(self, redis: RedisServer, one: DemoServer, two: DemoServer):
        self.redis, self.one, self.two = redis, one, two

    @property
    def servers(self) -> list[DemoServer]:
        return [self.one, self.two]


# ---------------------------------------------------------------------------
# python-socketio client with a recorder


class Recorder:
    """Thread-safe log of received events, in arrival order."""

    def __init__(self):
        self._cond = threading.Condition()
        self.events: list[tuple[str, tuple]] = []

    def add(self, event: str, args: tuple):
        with self._cond:
            self.events.append((event, args))
            self._cond.notify_all()

    def all(self, event: str) -> list[tuple]:
        """The arguments of each `event` received, without flush()'s markers."""
        with self._cond:
            return [a for (ev, a) in self.events if ev == event and not is_marker(ev, a)]

    def names(self) -> list[str]:
        """The name of each event received, without flush()'s markers."""
        with self._cond:
            return [ev for (ev, a) in self.events if not is_marker(ev, a)]

    def count(self, event: str) -> int:
        return len(self.all(event))

    def wait(self, event: str, count: int = 1, timeout: float = WAIT, match=None) -> list[tuple]:
        """Waits until at least `count` such events (whose args satisfy `match`, if given) arrived
        (flush()'s markers count only when waiting for FLUSH_EVENT)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [a for (ev, a) in self.events if ev == event and (match is None or match(a))
                       and (event == FLUSH_EVENT or not is_marker(ev, a))]
                if len(got) >= count:
                    return got
                if event != "disconnect" and any(ev == "disconnect" for ev, _ in self.events):
                    raise AssertionError(f"disconnected while waiting for {count} x {event!r}; "
                                         f"events so far: {self.events!r}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {count} x {event!r}; "
                                         f"got {len(got)}; events so far: {self.events!r}")
                self._cond.wait(remaining)


class Client:
    """A `socketio.Client` (WebSocket, reconnection off) on namespace "/" of one demo server.
    Records every event; `acks` maps event names to functions whose return value acks."""

    def __init__(self, server: DemoServer, *, room: str | None = None, acks: dict | None = None,
                 label: str | None = None, transports=("websocket",), headers: dict | None = None):
        self.server = server
        self.room = room
        self.headers = dict(headers or {})
        self.label = label or f"{server.name}-client"
        self.transports = list(transports)
        self.sio = socketio.Client(reconnection=False, request_timeout=5)
        self.in_flight = HandlersInFlight(self.sio.eio)
        self.rec = Recorder()
        self.sid: str | None = None

        def catch_all(event, *args):
            self.rec.add(event, args)

        self.sio.on("*", catch_all)
        self.sio.on("connect", lambda: self.rec.add("connect", ()))
        self.sio.on("disconnect", lambda *args: self.rec.add("disconnect", args))
        for event, fn in (acks or {}).items():
            self.sio.on(event, self._acking(event, fn))

    def _acking(self, event, fn):
        def handler(*args):
            self.rec.add(event, args)
            return fn(*args)
        return handler

    @property
    def url(self) -> str:
        url = self.server.url
        if self.room is not None:
            url += "?" + urllib.parse.urlencode({"room": self.room})
        return url

    def connect(self) -> "Client":
        self.sio.connect(self.url, transports=self.transports, headers=self.headers, wait_timeout=WAIT)
        welcome = self.rec.wait("welcome")[0][0]
        self.sid = self.sio.get_sid("/")
        assert welcome.get("sid") == self.sid, (welcome, self.sid)
        return self

    def call(self, event: str, *args, timeout: float = WAIT):
        """Emits with an ack and returns the ack's argument (a tuple when several)."""
        data = args[0] if len(args) == 1 else (tuple(args) if args else None)
        return self.sio.call(event, data, timeout=timeout)

    def timed_call(self, event: str, *args, timeout: float = WAIT):
        started = time.monotonic()
        result = self.call(event, *args, timeout=timeout)
        return result, time.monotonic() - started

    def settle(self, timeout: float = WAIT) -> None:
        """Waits until every message received so far has been handled (see HandlersInFlight)."""
        self.in_flight.wait_idle(timeout)

    def sync(self) -> None:
        """settle(), an echo round trip on this connection, settle(): the server handles one
        connection's packets in order (the acks this client's handlers sent included) and
        writes to it in order, so all it got from and sent to this client before is handled."""
        self.settle()
        token = unique("sync")
        assert self.call("echo", token) == token
        self.settle()

    @property
    def connected(self) -> bool:
        return self.sio.connected

    def close(self):
        try:
            if self.sio.connected or self.sio.eio.state == "connected":
                self.sio.disconnect()
        except Exception:  # noqa: BLE001 - teardown must not mask the test result
            pass


def assert_serving(server: DemoServer):
    """A fresh client connects to `server` and gets its echo back."""
    assert server.alive(), f"demo server {server.name} process died:\n{server.log_text()}"
    c = Client(server, label="probe")
    try:
        c.connect()
        assert c.call("echo", "still-alive") == "still-alive"
    finally:
        c.close()


def assert_cross_broadcast(cluster: Cluster, timeout: float = WAIT):
    """A room broadcast from each instance reaches a client on the other one."""
    room = unique("probe")
    a = Client(cluster.one, room=room, label="probe-one")
    b = Client(cluster.two, room=room, label="probe-two")
    try:
        a.connect()
        b.connect()
        for sender, receiver in ((a, b), (b, a)):
            token = unique("tok")
            assert sender.call("broadcast", {"room": room, "event": "probe", "data": token}) == "ok"
            receiver.rec.wait("probe", match=lambda args: args == (token,), timeout=timeout)
    finally:
        a.close()
        b.close()


# ---------------------------------------------------------------------------
# markers: what was sent before has arrived


def answers_before_marker(sub: Subscriber, port: int, servers: int = 2) -> list:
    """Publishes a serverSideEmit request with a requestId, as Node sends it (the demo's
    "hello", whose handler answers and emits `server-side` {from, args: [the requestId]} to
    local sockets: see is_marker), and returns every message `sub` (subscribed to the response
    channel) got until each of the `servers` answered it. An instance answers requests in
    arrival order (serverSideEmit ones once the handlers before them have run), so any answer
    of its to something published earlier came before its answer to this one."""
    rid = unique("flush")
    payload = json.dumps({"uid": "flushmarker", "requestId": rid, "type": 6, "data": ["hello", rid]},
                         separators=(",", ":")).encode()
    with RawRedis(port) as conn:
        conn.command("PUBLISH", REQUEST_CHANNEL, payload)
    before, answered = [], 0
    deadline = time.monotonic() + WAIT
    while answered < servers:
        msg = sub.next(max(0.0, deadline - time.monotonic()))
        if msg is None:
            raise AssertionError(f"{answered} of {servers} servers answered the marker request in {WAIT}s; "
                                 f"other messages: {[(c, p[:200]) for c, p, _ in before]!r}")
        if rid.encode() in msg[1]:
            answered += 1
        else:
            before.append(msg)
    return before


def is_marker(event: str, args: tuple) -> bool:
    """An event of flush()'s own: its marker broadcast, or the `server-side` event of the
    marker request of answers_before_marker."""
    if event == FLUSH_EVENT:
        return True
    return (event == "server-side" and len(args) == 1 and isinstance(args[0], dict)
            and str((args[0].get("args") or [""])[0]).startswith("flush-"))


def flush(cluster: Cluster, watchers, requests: bool = False) -> None:
    """Returns once whatever the cluster sent `watchers` before the call has been recorded.

    A marker broadcast goes to a room holding every watcher, first from a probe client on
    instance one, then from one on instance two, each awaited at every watcher and probe. An
    instance delivers to its local sockets and publishes to Redis in order, Redis delivers in
    publish order and an instance handles what it receives in order: one's marker follows
    whatever one sent before, locally and at two; its arrival at the probe on two means all
    one published before went through Redis; so two's marker follows, at one, everything one
    got from Redis before (its own messages' echoes too) and all two sent. With `requests`,
    serverSideEmit handlers (run off the receive path, in order) are waited for in between
    (answers_before_marker). Last, the watchers leave the room again and their handlers still
    running are waited for."""
    room = unique("flush")
    probes = [Client(server, label=f"flush-probe@{server.name}") for server in cluster.servers]
    try:
        for probe in probes:
            probe.connect()
        everyone = [*watchers, *probes]
        for c in everyone:
            assert c.connected, f"{c.label} was disconnected"
            assert room in c.call("join", room), c.label

        def markers():
            for probe in probes:
                token = unique("mark")
                assert probe.call("broadcast", {"room": room, "event": FLUSH_EVENT, "data": token}) == "ok"
                for c in everyone:
                    c.rec.wait(FLUSH_EVENT, match=lambda args, token=token: args == (token,))

        markers()
        if requests:
            with Subscriber(cluster.redis.port) as sub:
                sub.subscribe(RESPONSE_CHANNEL)
                answers_before_marker(sub, cluster.redis.port)
            markers()
        for c in watchers:
            assert room not in c.call("leave", room), c.label  # the watcher's rooms as they were
    finally:
        for probe in probes:
            probe.close()
    for c in watchers:
        c.settle()


# ---------------------------------------------------------------------------
# The Redis Streams adapter (spec socketio-connection-recovery-and-streams-adapter.md, Part B):
# stream entries, session keys, Redis' view of its clients, MONITOR

STREAM = "socket.io"                   # the stream of every namespace (streamCount 1)
SESSION_PREFIX = "sio:session:"        # connection state recovery sessions (B7)
STREAM_ID = re.compile(r"^[0-9]+-[0-9]+$")


def compact_json(value) -> str:
    """JSON.stringify's text: no spaces, non-ASCII as is, keys in insertion order."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class StreamEntry:
    """One XRANGE entry: its id and its fields in wire order (names as text, values as bytes)."""

    def __init__(self, entry_id: str, fields: list[tuple[str, bytes]]):
        self.id, self.fields = entry_id, fields

    def names(self) -> list[str]:
        return [name for name, _ in self.fields]

    def text(self, name: str) -> str | None:
        for field, value in self.fields:
            if field == name:
                return value.decode("utf-8", "replace")
        return None

    def data(self):
        """`data` decoded as Node's `decode` does: JSON when it starts with `{`, else base64 of
        msgpack (the `msgpack` package: str -> str, bin -> bytes, wire order kept)."""
        import msgpack
        raw = self.text("data")
        if raw is None:
            return None
        if raw.startswith("{"):
            return json.loads(raw)
        return msgpack.unpackb(base64.b64decode(raw, validate=True), raw=False)

    def __repr__(self):
        return f"StreamEntry({self.id!r}, {[(n, v[:200]) for n, v in self.fields]!r})"


class StreamConnection(RawRedis):
    """A RawRedis with the stream and key commands the streams adapter's tests use."""

    def xadd(self, fields, entry_id: str = "*", stream: str = STREAM) -> str:
        """XADD as Node's adapter writes it (`MAXLEN ~ 10000`, fields in the order given);
        the new entry's id."""
        args = ["XADD", stream, "MAXLEN", "~", "10000", entry_id]
        for name, value in fields:
            args += [name, value]
        return self.command(*args).decode()

    def entry(self, uid: str, type_: str, data: str | None, nsp: str = "/", entry_id: str = "*") -> str:
        """An entry in Node's field order uid, nsp, type[, data]."""
        fields = [("uid", uid), ("nsp", nsp), ("type", type_)]
        if data is not None:
            fields.append(("data", data))
        return self.xadd(fields, entry_id)

    def last_id(self, stream: str = STREAM) -> str:
        """The id of the stream's last entry ("0-0" when there is none)."""
        reply = self.command("XREVRANGE", stream, "+", "-", "COUNT", "1")
        return reply[0][0].decode() if reply else "0-0"

    def entries_after(self, after: str, stream: str = STREAM) -> list[StreamEntry]:
        """Every entry after `after` (exclusive), in stream order."""
        reply = self.command("XRANGE", stream, "(" + after, "+")
        return [StreamEntry(e[0].decode(), [(e[1][i].decode(), e[1][i + 1]) for i in range(0, len(e[1]), 2)])
                for e in reply]

    def wait_entry(self, after: str, predicate, timeout: float = WAIT) -> StreamEntry:
        """The first entry after `after` satisfying `predicate`, waited for (an instance's XADD
        may complete after it acked the client's request)."""
        deadline = time.monotonic() + timeout
        while True:
            entries = self.entries_after(after)
            for e in entries:
                if predicate(e):
                    return e
            if time.monotonic() >= deadline:
                raise AssertionError(f"no such stream entry after {after} within {timeout}s; entries: {entries!r}")
            time.sleep(0.02)

    def exists(self, key: str) -> bool:
        return self.command("EXISTS", key) == 1

    def clients(self) -> list[dict[str, str]]:
        """CLIENT LIST, one dict per connection (id, addr, cmd, …)."""
        text = self.command("CLIENT", "LIST").decode()
        return [dict(part.split("=", 1) for part in line.split(" ") if "=" in part)
                for line in text.splitlines() if line]

    def xread_clients(self) -> list[dict[str, str]]:
        """The connections whose last command was XREAD (the adapters' stream readers)."""
        return [c for c in self.clients() if c.get("cmd") == "xread"]


_MONITOR_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')
_MONITOR_ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t", "a": b"\a", "b": b"\b", "\\": b"\\", '"': b'"'}


def _monitor_unescape(text: str) -> bytes:
    out, i = bytearray(), 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "x" and i + 3 < len(text):
                out.append(int(text[i + 2:i + 4], 16))
                i += 4
                continue
            out += _MONITOR_ESCAPES.get(nxt, nxt.encode())
            i += 2
            continue
        out += ch.encode()
        i += 1
    return bytes(out)


class Monitor:
    """A MONITOR connection: the commands Redis executes, as argument lists of bytes."""

    def __init__(self, port: int):
        self.conn = RawRedis(port)
        assert self.conn.command("MONITOR") == "OK"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.conn.close()

    def find(self, predicate, timeout: float = WAIT) -> list[bytes]:
        """The arguments of the first command from now on satisfying `predicate(args)`."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            try:
                line = self.conn._reply(deadline)
            except TimeoutError:
                raise AssertionError(f"no such command within {timeout}s; saw {seen[-30:]!r}") from None
            if not isinstance(line, str) or "] " not in line:
                continue
            args = [_monitor_unescape(m) for m in _MONITOR_ARG.findall(line.split("] ", 1)[1])]
            if args and predicate(args):
                return args
            seen.append([a[:60] for a in args])


# ---------------------------------------------------------------------------
# a Socket.IO client over one raw WebSocket, packets kept in arrival order


class RawPacket:
    """A Socket.IO packet as received: type (0 CONNECT … 6 BINARY_ACK), ack id, data (binary
    attachments back in place of their placeholders), namespace."""

    def __init__(self, type_: int, nsp: str, ack: int | None, data, attachments: int):
        self.type, self.nsp, self.ack, self.data, self.attachments = type_, nsp, ack, data, attachments

    @property
    def is_event(self) -> bool:
        return self.type in (2, 5)

    def __repr__(self):
        return f"RawPacket({self.type}, ack={self.ack}, {self.data!r})"[:400]


def parse_socketio_packet(text: str) -> RawPacket:
    type_ = int(text[0])
    i, attachments, nsp = 1, 0, "/"
    if type_ in (5, 6):
        j = text.index("-", i)
        attachments, i = int(text[i:j]), j + 1
    if text.startswith("/", i):
        j = text.find(",", i)
        j = len(text) if j < 0 else j
        nsp, i = text[i:j], j + 1
    j = i
    while j < len(text) and text[j].isdigit():
        j += 1
    ack = int(text[i:j]) if j > i else None
    data = json.loads(text[j:]) if j < len(text) else None
    return RawPacket(type_, nsp, ack, data, attachments)


def _put_attachments(value, attachments: list[bytes]):
    if isinstance(value, dict):
        if value.get("_placeholder") is True and isinstance(value.get("num"), int):
            return attachments[value["num"]]
        return {k: _put_attachments(v, attachments) for k, v in value.items()}
    if isinstance(value, list):
        return [_put_attachments(v, attachments) for v in value]
    return value


class RawSocket:
    """A Socket.IO client of namespace "/" over one raw WebSocket (websocket-client), as
    tests/outside-in's test_connection_state_recovery.py drives the server, with a reader thread:
    every packet is kept in arrival order (python-socketio runs each handler on a thread of its
    own, so its recorder's order is not arrival order), pings are answered, binary attachments
    are put back. The CONNECT (with `auth`, if any) is sent at once; connect_reply() reads the
    answer. drop() ends the TCP connection with no Socket.IO, Engine.IO or WebSocket close."""

    def __init__(self, server, auth=None, room: str | None = None, label: str | None = None):
        import websocket
        query = {"EIO": "4", "transport": "websocket"}
        if room is not None:
            query["room"] = room
        self.label = label or f"raw@{server.name}"
        self.ws = websocket.create_connection(
            f"ws://127.0.0.1:{server.port}/socket.io/?{urllib.parse.urlencode(query)}", timeout=WAIT)
        opening = self.ws.recv()
        assert isinstance(opening, str) and opening.startswith("0{"), f"{self.label}: Engine.IO open was {opening!r}"
        self.ws.settimeout(None)
        self._cond = threading.Condition()
        self.packets: list[RawPacket] = []
        self.ended: str | None = None
        self._pending: tuple[RawPacket, list[bytes]] | None = None
        self._next_ack = 1
        self.hello: dict | None = None
        self.sid: str | None = None
        self.pid: str | None = None
        self.connect_index: int | None = None
        self._thread = threading.Thread(target=self._read, name=f"raw-{self.label}", daemon=True)
        self._thread.start()
        self.ws.send("40" + ("" if auth is None else compact_json(auth)))

    # reader thread

    def _read(self):
        reason = "closed"
        try:
            while True:
                frame = self.ws.recv()
                if isinstance(frame, bytes):
                    self._attachment(frame)
                elif frame == "2":
                    self.ws.send("3")
                elif frame.startswith("4"):
                    self._packet(parse_socketio_packet(frame[1:]))
                elif frame == "1":
                    reason = "Engine.IO close"
                    break
                elif frame == "" and not self.ws.connected:
                    break
        except Exception as exc:  # noqa: BLE001 - the connection ended; recorded for the waits
            reason = f"connection ended: {exc!r}"
        with self._cond:
            self.ended = reason
            self._cond.notify_all()

    def _packet(self, packet: RawPacket):
        if packet.attachments:
            self._pending = (packet, [])
            return
        self._add(packet)

    def _attachment(self, data: bytes):
        assert self._pending is not None, f"{self.label}: a binary frame without a binary packet"
        packet, parts = self._pending
        parts.append(data)
        if len(parts) == packet.attachments:
            self._pending = None
            packet.data = _put_attachments(packet.data, parts)
            self._add(packet)

    def _add(self, packet: RawPacket):
        with self._cond:
            self.packets.append(packet)
            self._cond.notify_all()

    # waits

    def wait_packet(self, predicate, timeout: float = WAIT) -> int:
        """The index of the first packet satisfying `predicate` (received already or later)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, p in enumerate(self.packets):
                    if predicate(p):
                        return i
                if self.ended is not None:
                    raise AssertionError(f"{self.label}: {self.ended} while waiting; packets: {self.packets!r}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.label}: timed out after {timeout}s; packets: {self.packets!r}")
                self._cond.wait(remaining)

    def wait_ended(self, timeout: float = WAIT) -> str:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.ended is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.label}: still connected after {timeout}s; packets: {self.packets!r}")
                self._cond.wait(remaining)
            return self.ended

    def connect_reply(self, timeout: float = WAIT) -> tuple[list[list], dict]:
        """The events received before the CONNECT reply (their data arrays), and its payload."""
        i = self.wait_packet(lambda p: p.type in (0, 4), timeout)
        with self._cond:
            reply, before = self.packets[i], [p.data for p in self.packets[:i] if p.is_event]
        assert reply.type == 0, f"{self.label}: CONNECT_ERROR {reply.data!r}"
        self.hello, self.connect_index = reply.data, i
        self.sid, self.pid = reply.data.get("sid"), reply.data.get("pid")
        return before, reply.data

    def events(self, name: str | None = None) -> list[list]:
        """The data array (event name first) of every event received so far, in arrival order."""
        with self._cond:
            return [p.data for p in self.packets if p.is_event and (name is None or p.data[0] == name)]

    def events_after_connect(self) -> list[list]:
        assert self.connect_index is not None, "connect_reply() first"
        with self._cond:
            return [p.data for p in self.packets[self.connect_index + 1:] if p.is_event]

    def wait_event(self, name: str, match=None, timeout: float = WAIT) -> list:
        """The first event `name` whose data array satisfies `match` (received already or later)."""
        i = self.wait_packet(lambda p: p.is_event and p.data[0] == name and (match is None or match(p.data)), timeout)
        with self._cond:
            return self.packets[i].data

    # sending

    def send_event(self, event: str, *args, ack: bool = True) -> int | None:
        ack_id = None
        if ack:
            ack_id, self._next_ack = self._next_ack, self._next_ack + 1
        self.ws.send("42" + ("" if ack_id is None else str(ack_id)) + compact_json([event, *args]))
        return ack_id

    def wait_ack(self, ack_id: int, timeout: float = WAIT) -> list:
        i = self.wait_packet(lambda p: p.type in (3, 6) and p.ack == ack_id, timeout)
        with self._cond:
            return self.packets[i].data

    def call(self, event: str, *args, timeout: float = WAIT):
        """Emits with an ack; the ack's argument (its list when several)."""
        data = self.wait_ack(self.send_event(event, *args), timeout)
        return data[0] if len(data) == 1 else data

    # ending

    def drop(self) -> None:
        """The TCP connection is reset (RST): no Socket.IO, Engine.IO or WebSocket close, as when
        a network path dies and the peer's kernel answers the next segment. (A clean FIN is not
        what this models; our server notices one only at its next write, a ping later.)
        SHUT_RD wakes the reader thread without sending anything; the close with SO_LINGER 0 then
        sends the RST (closing while another thread is blocked in recv would send nothing)."""
        self._shut_down(socket.SHUT_RD, reset=True)

    def close(self) -> None:
        """Leaves on purpose (Socket.IO DISCONNECT, so no session is kept), then closes."""
        if self.ended is None:
            try:
                self.ws.send("41")
                self.ws.send_close()
            except Exception:  # noqa: BLE001 - teardown must not mask the test result
                pass
        self._shut_down(socket.SHUT_RDWR)

    def _shut_down(self, how: int, reset: bool = False) -> None:
        """Shuts the socket down (`how`), lets the reader thread end, then closes it; with `reset`
        the close sends an RST (SO_LINGER 0)."""
        sock = self.ws.sock
        if sock is not None:
            try:
                if reset:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(how)
            except OSError:
                pass
        self._thread.join(5)
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
