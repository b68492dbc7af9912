"""Helpers of the service suite: the stack under test (a throwaway PostgreSQL and Redis plus one
`auction serve`), more instances on the same storage, REST calls from distinct loopback source
addresses, token minting, and a python-socketio client that records every packet in the order
it arrived.

Every wait here is bounded; nothing blocks forever."""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import engineio
import jwt
import pytest
import requests
import socketio
import websocket
from requests.adapters import HTTPAdapter

REPO_ROOT = Path(__file__).resolve().parents[2]
JWT_SECRET = "service-suite-secret-0123456789abcdef-0123456789abcdef-0123456789"  # 64+ bytes (HS512 test)
ACCESS_TOKEN_TTL = 600
SESSION_TTL = 1800
ALLOWED_FOREIGN_ORIGIN = "http://allowed.test:8080"
PASSWORD = "correct horse battery"
WAIT = 5.0  # default seconds for one expected event
# `make test` sets it: a server the suite needs (redis-server) that is missing fails the run.
REQUIRE_TEST_SERVERS = os.environ.get("REQUIRE_TEST_SERVERS") == "1"


def missing_server(reason: str) -> None:
    """A server this test needs is not installed: skip, or fail under REQUIRE_TEST_SERVERS=1."""
    if REQUIRE_TEST_SERVERS:
        pytest.fail(f"{reason} (REQUIRE_TEST_SERVERS=1: missing test servers fail the run)", pytrace=False)
    pytest.skip(reason)


def auction_binary() -> Path:
    bin_dir = Path(os.environ.get("BIN_DIR", ".build/debug"))
    if not bin_dir.is_absolute():
        bin_dir = REPO_ROOT / bin_dir
    return bin_dir / "auction"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def herd(clients, bid) -> list:
    """Runs `bid(index, client)` on every client at once; returns the answers in client order."""
    answers: list = [None] * len(clients)
    start = threading.Barrier(len(clients))

    def run(index, client):
        try:
            start.wait(10)
        except threading.BrokenBarrierError:
            pass
        try:
            answers[index] = bid(index, client)
        except Exception as exc:  # noqa: BLE001 - a missing answer is a failure below
            answers[index] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return answers


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# --- the stack under test ------------------------------------------------------------------

class Loopback:
    """An HTTP server on 127.0.0.1:`port`, as Api and SioClient reach it."""
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def own_origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_serve(port: int, env: dict[str, str], log, log_path: Path, timeout: float = 60,
                binary: Path | None = None, cwd: Path | str = REPO_ROOT) -> subprocess.Popen:
    """`auction serve --port PORT` (`binary`, default the build's) started in `cwd` with this
    environment and its output in `log`, once it answers /healthz (bounded)."""
    binary = binary or auction_binary()
    if not binary.exists():
        raise RuntimeError(f"{binary} does not exist: build it first (swift build --product auction)")
    cmd = [str(binary), "serve", "--port", str(port)]
    log.write(("$ " + " ".join(cmd) + "\n").encode())
    log.flush()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"auction serve exited with {proc.returncode}:\n{tail(log_path)}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.1)
    proc.kill()
    proc.wait(10)
    raise RuntimeError(f"auction serve did not answer /healthz within {timeout} s:\n{tail(log_path)}")


def tail(path: Path, limit: int = 30000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


def run_script(script: str, *args: str, timeout: float = 120, check: bool = True) -> str:
    """scripts/<script> with these arguments; the last line it printed (the URL of a `start`)."""
    out = subprocess.run(["bash", str(REPO_ROOT / "scripts" / script), *args], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=timeout)
    if not check:
        return ""
    if out.returncode != 0:
        raise RuntimeError(f"scripts/{script} {args[0]} failed ({out.returncode}):\n{out.stderr}{out.stdout}")
    return out.stdout.strip().splitlines()[-1]


class Stack(Loopback):
    """A throwaway PostgreSQL (scripts/postgres.sh), a throwaway Redis (scripts/redis.sh) and one
    `auction serve` with REDIS_URL, on free loopback ports. Without redis-server on the machine
    the service runs without Redis (in-process sessions) and `require_redis()` skips the tests
    that need it; under REQUIRE_TEST_SERVERS=1 the stack does not start at all."""

    def __init__(self) -> None:
        base = os.environ.get("TMPDIR", "/tmp")
        self.workdir = Path(tempfile.mkdtemp(prefix="auction-service-test-", dir=base))
        # The cluster runs as the postgres user when we are root: it must reach its data dir.
        os.chmod(self.workdir, 0o755)
        self.pg_dir = self.workdir / "pg"
        self.pg_port = free_port()
        self.redis_dir = self.workdir / "redis"
        self.redis_port = free_port()
        self.redis_url = ""
        self.redis_missing = ""
        self.port = free_port()
        self.database_url = ""
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "auction.log"
        self._log = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database_url,
            PORT=str(self.port),
            HOST="127.0.0.1",
            JWT_SECRET=JWT_SECRET,
            ACCESS_TOKEN_TTL=str(ACCESS_TOKEN_TTL),
            SESSION_TTL=str(SESSION_TTL),
            # The server's own origin (websocket-client sends it by default) and one test origin.
            CORS_ORIGINS=f"{self.own_origin},http://localhost:{self.port},{ALLOWED_FOREIGN_ORIGIN}",
            APP_ENV="development",
        )
        env.pop("REDIS_URL", None)
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        env.pop("COOKIE_SECURE", None)
        return env

    # PostgreSQL
    def start_postgres(self) -> None:
        self.database_url = run_script("postgres.sh", "start", str(self.pg_dir), str(self.pg_port))

    def stop_postgres(self) -> None:
        run_script("postgres.sh", "stop", str(self.pg_dir), timeout=60, check=False)

    # Redis
    def start_redis(self) -> None:
        """Starts the throwaway Redis; records why not when redis-server is not installed."""
        if shutil.which(os.environ.get("REDIS_SERVER", "redis-server")) is None:
            self.redis_missing = "redis-server not found (Debian package redis-server: bash scripts/install-deps.sh)"
            if REQUIRE_TEST_SERVERS:
                raise RuntimeError(self.redis_missing + "; REQUIRE_TEST_SERVERS=1")
            return
        self.redis_url = run_script("redis.sh", "start", str(self.redis_dir), str(self.redis_port), timeout=60)

    def stop_redis(self) -> None:
        run_script("redis.sh", "stop", str(self.redis_dir), timeout=60, check=False)

    def require_redis(self) -> None:
        if not self.redis_url:
            missing_server(self.redis_missing or "the stack runs without Redis")

    def redis_cli(self, *args: str) -> str:
        out = subprocess.run(
            [os.environ.get("REDIS_CLI", "redis-cli"), "-h", "127.0.0.1", "-p", str(self.redis_port), *args],
            capture_output=True, text=True, timeout=10,
        )
        if out.returncode != 0:
            raise RuntimeError(f"redis-cli {' '.join(args)} failed: {out.stderr}")
        return out.stdout.strip()

    def psql(self, sql: str) -> str:
        out = subprocess.run(
            ["psql", self.database_url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA", "-c", sql],
            capture_output=True, text=True, timeout=30, env={**os.environ, "PGCONNECT_TIMEOUT": "5"},
        )
        if out.returncode != 0:
            raise RuntimeError(f"psql failed: {out.stderr}")
        return out.stdout.strip()

    # the service
    def run_command(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(auction_binary()), *args], cwd=REPO_ROOT, env=self.env(),
            capture_output=True, text=True, timeout=timeout,
        )

    def start_server(self, timeout: float = 60) -> None:
        self._log = open(self.log_path, "ab")
        self.proc = start_serve(self.port, self.env(), self._log, self.log_path, timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop_server(self) -> int | None:
        """Stops the server; returns its exit status if it had exited by itself."""
        if self.proc is None:
            return None
        early = self.proc.poll()
        if early is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log:
            self._log.close()
        return early

    def log_text(self, limit: int = 30000) -> str:
        return tail(self.log_path, limit)

    def cleanup(self) -> None:
        self.stop_server()
        self.stop_postgres()
        self.stop_redis()
        shutil.rmtree(self.workdir, ignore_errors=True)


class Instance(Loopback):
    """Another `auction serve` on the stack's PostgreSQL (and Redis, unless `redis=False`), on its
    own port, with environment overrides (e.g. SESSION_TTL)."""

    def __init__(self, stack: Stack, log_path: Path, *, redis: bool = True, **env: str):
        self.port = free_port()
        self.log_path = log_path
        environment = stack.env()
        environment.update(PORT=str(self.port), CORS_ORIGINS=f"{self.own_origin},http://localhost:{self.port}", **env)
        if not redis:
            environment.pop("REDIS_URL", None)
        self.log = open(log_path, "ab")
        try:
            self.proc = start_serve(self.port, environment, self.log, log_path)
        except RuntimeError:
            self.log.close()
            raise

    def log_text(self, limit: int = 6000) -> str:
        return tail(self.log_path, limit)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


# --- REST --------------------------------------------------------------------------------

class SourceAddressAdapter(HTTPAdapter):
    def __init__(self, source: str, **kw):
        self._source = source
        super().__init__(**kw)

    def init_poolmanager(self, *args, **kw):
        kw["source_address"] = (self._source, 0)
        return super().init_poolmanager(*args, **kw)


_addresses = itertools.count(1)


def fresh_source_ip() -> str:
    """A loopback address not used before in this run: login limits count per client address."""
    n = next(_addresses)
    return f"127.77.{(n // 250) % 250}.{n % 250 + 1}"


class Api:
    def __init__(self, stack: Stack):
        self.stack = stack

    def call(self, method: str, path: str, *, token: str | None = None, cookie: str | None = None,
             source_ip: str | None = None, timeout: float = 15, **kw) -> requests.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if cookie is not None:
            headers["Cookie"] = cookie
        with requests.Session() as s:
            if source_ip:
                s.mount("http://", SourceAddressAdapter(source_ip))
            return s.request(method, self.stack.url + path, headers=headers, timeout=timeout, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.call("POST", path, **kw)


def set_cookies(response) -> list[str]:
    """Every Set-Cookie header line of a requests/urllib3 response, unmerged."""
    raw = getattr(response, "raw", None)
    if raw is not None and hasattr(raw.headers, "getlist"):
        return list(raw.headers.getlist("Set-Cookie"))
    value = response.headers.get("Set-Cookie")
    return [value] if value else []


def parse_cookie(line: str) -> tuple[str, str, dict[str, str]]:
    """'name=value; Path=/; HttpOnly' -> (name, value, {'path': '/', 'httponly': ''})."""
    parts = [p.strip() for p in line.split(";")]
    name, _, value = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip()
    return name.strip(), value.strip(), attrs


def session_cookie(response_or_lines) -> tuple[str, dict[str, str]] | None:
    """(value, attributes) of the `session_id` Set-Cookie of a response (or of header lines)."""
    lines = response_or_lines if isinstance(response_or_lines, list) else set_cookies(response_or_lines)
    for line in lines:
        name, value, attrs = parse_cookie(line)
        if name == "session_id":
            return value, attrs
    return None


def polling_handshake(endpoint, headers: dict[str, str] | None = None, query: str = "", *,
                      close: bool = False) -> requests.Response:
    """An Engine.IO polling handshake (GET, no sid); with `close`, the session it opened is closed
    at once with a close packet, so that nothing lingers."""
    r = requests.get(f"{endpoint.url}/socket.io/?EIO=4&transport=polling{query}", headers=headers or {}, timeout=10)
    if close and r.status_code == 200:
        sid = json.loads(r.text[1:])["sid"]
        requests.post(f"{endpoint.url}/socket.io/?EIO=4&transport=polling&sid={sid}", data="1",
                      headers=headers or {}, timeout=10)
    return r


def websocket_handshake(endpoint, headers: dict[str, str], origin: str | None = None):
    """A WebSocket-first Engine.IO handshake; returns (status, headers, ws or the refusal)."""
    opts = {"header": [f"{k}: {v}" for k, v in headers.items()], "timeout": 10}
    if origin is None:
        opts["suppress_origin"] = True
    else:
        opts["origin"] = origin
    try:
        ws = websocket.create_connection(f"{endpoint.ws_url}/socket.io/?EIO=4&transport=websocket", **opts)
    except websocket.WebSocketBadStatusException as exc:
        return exc.status_code, {k.lower(): v for k, v in (exc.resp_headers or {}).items()}, exc
    return ws.getstatus(), {k.lower(): v for k, v in (ws.getheaders() or {}).items()}, ws


def error_code(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("code")
    return None


def assert_error(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status, f"expected {status} {code}, got {response.status_code}: {response.text[:500]}"
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"].get("message"), str) and body["error"]["message"], body


@dataclass
class User:
    id: str
    email: str
    name: str
    password: str
    token: str = ""
    refresh_token: str = ""

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@service-test.example"


def register(api: Api, name: str | None = None, email: str | None = None, password: str = PASSWORD) -> User:
    email = email or unique_email()
    name = name or f"User {uuid.uuid4().hex[:6]}"
    r = api.post("/auth/register", json={"email": email, "name": name, "password": password})
    assert r.status_code == 201, r.text
    u = r.json()["user"]
    return User(id=u["id"], email=u["email"], name=u["name"], password=password)


def login(api: Api, user: User) -> User:
    r = api.post("/auth/login", json={"email": user.email, "password": user.password}, source_ip=fresh_source_ip())
    assert r.status_code == 200, r.text
    user.token = r.json()["accessToken"]
    user.refresh_token = r.json()["refreshToken"]
    return user


def new_user(api: Api, name: str | None = None) -> User:
    return login(api, register(api, name=name))


def new_item(api: Api, seller: User, *, starting: int = 100, increment: int = 10,
             ends_in: float = 3600, title: str | None = None) -> dict:
    ends_at = now_utc() + timedelta(seconds=ends_in)
    body = {
        "title": title or f"Item {uuid.uuid4().hex[:8]}",
        "description": "made by the service suite",
        "startingPrice": starting,
        "minIncrement": increment,
        "endsAt": rfc3339(ends_at),
    }
    r = api.post("/items", json=body, token=seller.token)
    assert r.status_code == 201, r.text
    return r.json()


def mint_token(sub: str, *, secret: str = JWT_SECRET, exp_in: float = 600, algorithm: str = "HS256",
               **extra) -> str:
    now = int(time.time())
    claims = {"sub": sub, "iat": now, "exp": int(now + exp_in), "jti": uuid.uuid4().hex, **extra}
    return jwt.encode(claims, secret, algorithm=algorithm)


def alg_none_token(sub: str) -> str:
    def b64(obj) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()

    now = int(time.time())
    return b64({"alg": "none", "typ": "JWT"}) + "." + b64(
        {"sub": sub, "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex}) + "."


# --- Socket.IO ------------------------------------------------------------------------------

ENGINE_CLOSE = "<engine.io close packet>"
ACK = "<socket.io ack packet>"  # recorded as {"id": <ack id>, "args": [...]}


@dataclass
class Received:
    seq: int
    name: str
    data: Any
    at: float


class SioClient:
    """A python-socketio client that records every EVENT and ACK packet in arrival order.

    python-socketio runs each event handler in its own thread, so handler order is not
    arrival order; this client hooks the Engine.IO receive path (the transport's read loop,
    one packet at a time) to keep the true order."""

    def __init__(self, stack: Stack, *, token: str | None = None, cookie: str | None = None,
                 headers: dict[str, str] | None = None):
        self.stack = stack
        self.sio = socketio.Client(reconnection=False, request_timeout=10)
        self.headers = dict(headers or {})
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token}"
        if cookie is not None:
            self.headers["Cookie"] = cookie
        self.cond = threading.Condition()
        self.received: list[Received] = []
        self.connect_errors: list[Any] = []
        self._seq = itertools.count()
        original = self.sio.eio._receive_packet

        def receive(pkt):
            if pkt.packet_type == engineio.packet.MESSAGE and isinstance(pkt.data, str):
                self._record(pkt.data)
            elif pkt.packet_type == engineio.packet.CLOSE:
                with self.cond:
                    self.received.append(Received(next(self._seq), ENGINE_CLOSE, None, time.monotonic()))
                    self.cond.notify_all()
            return original(pkt)

        self.sio.eio._receive_packet = receive

        @self.sio.on("connect_error")
        def _connect_error(data=None):
            with self.cond:
                self.connect_errors.append(data)
                self.cond.notify_all()

    def _record(self, text: str) -> None:
        # Socket.IO v5 EVENT on the main namespace: 2[<ack id>]["name", data...]; ACK: 3<id>[data...]
        if not text.startswith(("2", "3")):
            return
        rest = text[1:]
        if rest.startswith("/"):
            return
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        try:
            args = json.loads(rest[i:])
        except ValueError:
            return
        if not isinstance(args, list):
            return
        if text.startswith("3"):
            if i == 0:
                return
            name, data = ACK, {"id": int(rest[:i]), "args": args}
        elif not args:
            return
        else:
            name, data = args[0], args[1] if len(args) > 1 else None
        with self.cond:
            self.received.append(Received(next(self._seq), name, data, time.monotonic()))
            self.cond.notify_all()

    def connect(self, *, item_id: str | None = None, last_bid_id: str | None = None,
                transports: list[str] | None = None, query: str = "", auth: dict | None = None,
                wait_state: bool = True) -> "SioClient":
        if auth is None:
            auth = {}
            if item_id is not None:
                auth["itemId"] = item_id
            if last_bid_id is not None:
                auth["lastBidId"] = last_bid_id
        url = self.stack.url + (("?" + query) if query else "")
        self.sio.connect(url, headers=self.headers, auth=auth, transports=transports or ["websocket"],
                         wait_timeout=WAIT)
        if wait_state:
            assert self.wait_event("auction:state"), "no auction:state after connecting"
        return self

    # events
    def events(self, name: str) -> list[Any]:
        with self.cond:
            return [r.data for r in self.received if r.name == name]

    def wait_event(self, name: str, predicate: Callable[[Any], bool] = lambda _: True,
                   timeout: float = WAIT) -> Any:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for r in self.received:
                    if r.name == name and predicate(r.data):
                        return r.data
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def saw(self, name: str, timeout: float = WAIT) -> bool:
        """True once a packet named `name` arrived (for payload-less ones such as ENGINE_CLOSE)."""
        return len(self.wait_count(name, 1, timeout)) >= 1

    def wait_count(self, name: str, count: int, timeout: float = WAIT) -> list[Any]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [r.data for r in self.received if r.name == name]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    return found
                self.cond.wait(left)

    def bid_events(self) -> list[dict]:
        return self.events("bid")

    def wait_bid(self, bid_id: str, timeout: float = WAIT) -> dict | None:
        """The `bid` event of this bid once it arrived (None if it did not within `timeout`)."""
        return self.wait_event("bid", lambda e: isinstance(e, dict) and e["bid"]["id"] == bid_id, timeout)

    def state(self) -> dict | None:
        found = self.events("auction:state")
        return found[0] if found else None

    # bidding
    def bid(self, item_id: Any, price: Any = None, *, client_bid_id: Any = None, timeout: float = 10,
            payload: Any = ..., raw_payload: bool = False) -> Any:
        if raw_payload:
            data = payload
        else:
            data = {"itemId": item_id, "price": price}
            if client_bid_id is not None:
                data["clientBidId"] = client_bid_id
        return self.sio.call("bid", data, timeout=timeout)

    def bid_retrying(self, item_id: str, price: int, *, client_bid_id: str | None = None,
                     timeout: float = 20) -> Any:
        """A bid that waits out RATE_LIMITED answers (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            ack = self.bid(item_id, price, client_bid_id=client_bid_id)
            if not (isinstance(ack, dict) and ack.get("ok") is False and ack["error"]["code"] == "RATE_LIMITED"):
                return ack
            if time.monotonic() > deadline:
                return ack
            time.sleep(0.15)

    def close(self) -> None:
        try:
            self.sio.disconnect()
        except Exception:
            pass
        try:
            self.sio.shutdown()
        except Exception:
            pass


def wait_marker(clients, bid: dict, timeout: float = WAIT) -> None:
    """Waits until every client got the `bid` event of `bid`, a bid placed after everything a test
    wants to be sure about: events of one room reach a socket in the order they were emitted, so
    whatever was emitted before the marker has arrived by then (or never will)."""
    missing = [n for n, c in enumerate(clients) if c.wait_bid(bid["id"], timeout) is None]
    assert not missing, f"clients {missing} did not get the marker bid {bid['id']} within {timeout} s"


def assert_bid_text(event: dict, viewer_id: str, label: str = "") -> None:
    """`mine` and `text` as the contract has them: the bidder's own sockets get mine: true and a
    text starting with "You"; everyone else mine: false and "<bidder name>: <price>"."""
    bid = event["bid"]
    if bid["bidder"]["id"] == viewer_id:
        assert event["mine"] is True, f"{label}: own bid must be mine: true: {event}"
        assert isinstance(event["text"], str) and event["text"].startswith("You"), \
            f"{label}: own bid's text must start with 'You': {event}"
    else:
        assert event["mine"] is False, f"{label}: others' bid must be mine: false: {event}"
        assert event["text"] == f"{bid['bidder']['name']}: {bid['price']}", f"{label}: {event}"


def random_bits(values: list[str]) -> int:
    """How many bit positions differ among these ids (hex or URL-safe base64): a lower bound on
    their random bits that any fixed part, counter or timestamp does not reach. Ids of unequal
    length or in neither alphabet count 0."""
    if not values or len({len(v) for v in values}) != 1:
        return 0
    if all(re.fullmatch(r"[0-9a-fA-F]+", v) for v in values):
        numbers = [int(v, 16) for v in values]
        width = 4 * len(values[0])
    elif all(re.fullmatch(r"[A-Za-z0-9_-]+", v) for v in values):
        raw = [base64.urlsafe_b64decode(v + "=" * (-len(v) % 4)) for v in values]
        numbers = [int.from_bytes(b, "big") for b in raw]
        width = 8 * len(raw[0])
    else:
        return 0
    varying = 0
    for bit in range(width):
        if len({(n >> bit) & 1 for n in numbers}) > 1:
            varying += 1
    return varying


def assert_ok_ack(ack: Any) -> dict:
    assert isinstance(ack, dict) and ack.get("ok") is True, f"expected an ok ack, got {ack!r}"
    return ack["bid"]


def assert_error_ack(ack: Any, code: str) -> None:
    assert isinstance(ack, dict), f"expected an error ack {code}, got {ack!r}"
    assert ack.get("ok") is False, f"expected an error ack {code}, got {ack!r}"
    assert isinstance(ack.get("error"), dict), ack
    assert ack["error"].get("code") == code, f"expected {code}, got {ack!r}"
    assert isinstance(ack["error"].get("message"), str) and ack["error"]["message"], ack
