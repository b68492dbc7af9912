"""Helpers of the service suite: the stack under test (a throwaway PostgreSQL and Redis plus one
`auction serve`), more instances on the same storage, Engine.IO handshakes, token minting, and
the recording Socket.IO client on the stack. The servers, REST calls, the recording client and
the bidding invariants are tests/support's; the names the tests import from here are re-exported.

Every wait here is bounded; nothing blocks forever."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import jwt
import requests
import socketio
import websocket

from support.bidding import (  # noqa: F401  (re-exported for the tests)
    assert_bid_text, assert_error_ack, assert_ok_ack, herd, wait_marker,
)
from support.checkout import REPO_ROOT, auction_binary  # noqa: F401
from support.loopback import Loopback, SourceAddressAdapter, free_port, fresh_source_ip  # noqa: F401
from support.recording import ACK, ENGINE_CLOSE, RecordingClient  # noqa: F401
from support.rest import (  # noqa: F401
    PASSWORD, Api, User, assert_error, error_code, login, new_item, new_user, now_utc, parse_cookie, parse_time,
    register, rfc3339, session_cookie, set_cookies, unique_email,
)
from support.servers import (  # noqa: F401
    REQUIRE_TEST_SERVERS, PostgresServer, RedisServer, missing_server, start_serve, stop_process, tail,
)
from support.waiting import WAIT, poll as wait_until  # noqa: F401  (here it returns the last value)

JWT_SECRET = "service-suite-secret-0123456789abcdef-0123456789abcdef-0123456789"  # 64+ bytes (HS512 test)
ACCESS_TOKEN_TTL = 600
SESSION_TTL = 1800
ALLOWED_FOREIGN_ORIGIN = "http://allowed.test:8080"


# --- the stack under test ------------------------------------------------------------------

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
        self.postgres = PostgresServer(self.pg_dir, self.pg_port)
        self.redis_dir = self.workdir / "redis"
        self.redis_port = free_port()
        self.redis = RedisServer(self.redis_dir, self.redis_port)
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
        self.database_url = self.postgres.start()

    def stop_postgres(self) -> None:
        self.postgres.stop()

    # Redis
    def start_redis(self) -> None:
        """Starts the throwaway Redis; records why not when redis-server is not installed."""
        if shutil.which(os.environ.get("REDIS_SERVER", "redis-server")) is None:
            self.redis_missing = "redis-server not found (Debian package redis-server: bash scripts/install-deps.sh)"
            if REQUIRE_TEST_SERVERS:
                raise RuntimeError(self.redis_missing + "; REQUIRE_TEST_SERVERS=1")
            return
        self.redis_url = self.redis.start()

    def stop_redis(self) -> None:
        self.redis.stop()

    def require_redis(self) -> None:
        if not self.redis_url:
            missing_server(self.redis_missing or "the stack runs without Redis")

    def redis_cli(self, *args: str) -> str:
        return self.redis.cli(*args)

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
        early = stop_process(self.proc)
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

class SioClient(RecordingClient):
    """The recording client (tests/support/recording.py) on the stack, signed in by a Bearer
    `token` or a `cookie`."""

    def __init__(self, stack: Stack, *, token: str | None = None, cookie: str | None = None,
                 headers: dict[str, str] | None = None):
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if cookie is not None:
            headers["Cookie"] = cookie
        super().__init__(socketio.Client(reconnection=False, request_timeout=10), headers)
        self.stack = stack

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
