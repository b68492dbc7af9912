"""Helpers of the cluster suite: a throwaway PostgreSQL (scripts/postgres.sh) and Redis
(scripts/redis.sh), two `auction serve` instances sharing them, and nginx in front of both with
the configuration `make run` uses (deploy/nginx/render-local.sh), all on free loopback ports.

The processes, REST helpers, users and items come from tests/support (the service suite's
constants and names from tests/service/service_helpers.py); the Socket.IO recorder here is
tests/support's with what a cluster needs: reconnection with `auth` computed at each (re)connect,
polling over a `requests` session bound to a chosen loopback source address, and the last bid id
seen. Every wait is bounded."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import requests
import socketio

from support.checkout import REPO_ROOT, auction_binary
from support.loopback import Loopback, SourceAddressAdapter, free_port, source_ips  # noqa: F401
from support.recording import ENGINE_CLOSE, Received, RecordingClient  # noqa: F401
from support.rest import Api  # noqa: F401  (for the tests)
from support.servers import PostgresServer, RedisServer, start_serve, stop_process, tail
from support.waiting import WAIT, poll as wait_until

# The tests import the service suite's helpers too (`from service_helpers import new_user`).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
from service_helpers import ACCESS_TOKEN_TTL, JWT_SECRET, SESSION_TTL  # noqa: E402


@dataclass
class Endpoint(Loopback):
    """What Api and the Socket.IO clients need to reach one HTTP server (an instance or nginx)."""
    name: str
    port: int


class Instance(Endpoint):
    def __init__(self, name: str, port: int, log_path: Path):
        super().__init__(name, port)
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self._log = None
        self.exits: list[int] = []   # exit statuses of earlier processes (killed on purpose or not)

    @property
    def upstream(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def tag(self) -> str:
        """Its INSTANCE_ID, the start of every sid it makes; the port, as `make run` does."""
        return str(self.port)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self, limit: int = 30000) -> str:
        return tail(self.log_path, limit)


class Cluster:
    """PostgreSQL + Redis + two instances + nginx, on free loopback ports under one temp dir."""

    def __init__(self, instances: int = 2) -> None:
        base = os.environ.get("TMPDIR", "/tmp")
        self.workdir = Path(tempfile.mkdtemp(prefix="auction-cluster-test-", dir=base))
        os.chmod(self.workdir, 0o755)   # postgres (and nginx workers) run unprivileged under root
        self.pg_dir = self.workdir / "pg"
        self.pg_port = free_port()
        self.postgres = PostgresServer(self.pg_dir, self.pg_port)
        self.redis_dir = self.workdir / "redis"
        self.redis_port = free_port()
        self.redis = RedisServer(self.redis_dir, self.redis_port)
        self.nginx_dir = self.workdir / "nginx"
        self.lb = Endpoint("nginx", free_port())
        self.nginx: subprocess.Popen | None = None
        self.instances = [Instance(f"instance{i + 1}", free_port(), self.workdir / f"instance{i + 1}.log")
                          for i in range(instances)]
        self.database_url = ""
        self.redis_url = ""
        # Set by a test before it starts instances (SOCKETIO_ADAPTER, BID_RATE…); empty for the suite's.
        self.extra_env: dict[str, str] = {}

    # --- environment -------------------------------------------------------------------
    def env(self, port: int) -> dict[str, str]:
        env = dict(os.environ)
        origins = [self.lb.own_origin, f"http://localhost:{self.lb.port}"]
        for inst in self.instances:
            origins += [inst.own_origin, f"http://localhost:{inst.port}"]
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            PORT=str(port),
            HOST="127.0.0.1",
            JWT_SECRET=JWT_SECRET,
            ACCESS_TOKEN_TTL=str(ACCESS_TOKEN_TTL),
            SESSION_TTL=str(SESSION_TTL),
            CORS_ORIGINS=",".join(origins),
            APP_ENV="development",
            TRUSTED_PROXIES="127.0.0.1",   # nginx, as `make run` sets it
        )
        env.pop("COOKIE_SECURE", None)
        env.update(self.extra_env)
        return env

    def _script(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        out = subprocess.run(["bash", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}):\n{out.stderr}{out.stdout}")
        return out

    # --- PostgreSQL ----------------------------------------------------------------------
    def start_postgres(self) -> None:
        self.database_url = self.postgres.start()

    def stop_postgres(self) -> None:
        self.postgres.stop()

    def psql(self, sql: str) -> str:
        """One statement through psql against the shared database; its rows, unaligned, one a line."""
        out = subprocess.run(["psql", self.database_url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA", "-c", sql],
                             capture_output=True, text=True, timeout=30, env={**os.environ, "PGCONNECT_TIMEOUT": "5"})
        if out.returncode != 0:
            raise RuntimeError(f"psql failed: {out.stderr}")
        return out.stdout.strip()

    # --- Redis ---------------------------------------------------------------------------
    def start_redis(self) -> None:
        self.redis_url = self.redis.start()

    def stop_redis(self) -> None:
        self.redis.stop()

    def kill_redis(self) -> None:
        """SIGKILL, as a crash would: no SHUTDOWN, connections reset."""
        pid = self.redis.pid()
        assert pid, "no redis pid file"
        os.kill(pid, signal.SIGKILL)
        gone = wait_until(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), timeout=10)
        assert gone, f"redis-server {pid} survived SIGKILL"
        (self.redis_dir / "redis.pid").unlink(missing_ok=True)

    # --- the instances -------------------------------------------------------------------
    def run_command(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(auction_binary()), *args], cwd=REPO_ROOT, env=self.env(self.instances[0].port),
                              capture_output=True, text=True, timeout=timeout)

    def migrate_and_seed(self) -> None:
        # Both instances' migrations at once (the contract: safe from two instances), then seed.
        cmd = [str(auction_binary()), "migrate", "--directory", "sql"]
        procs = [subprocess.Popen(cmd, cwd=REPO_ROOT, env=self.env(inst.port), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for inst in self.instances]
        for p in procs:
            out, _ = p.communicate(timeout=120)
            if p.returncode != 0:
                raise RuntimeError(f"concurrent `auction migrate` failed ({p.returncode}):\n{out}")
        out = self.run_command("seed")
        if out.returncode != 0:
            raise RuntimeError(f"auction seed failed ({out.returncode}):\n{out.stdout}{out.stderr}")

    def start_instance(self, inst: Instance, timeout: float = 60) -> None:
        if inst._log is None:
            inst._log = open(inst.log_path, "ab")
        env = self.env(inst.port)
        env["INSTANCE_ID"] = inst.tag   # what nginx routes its sessions' requests by
        inst.proc = start_serve(inst.port, env, inst._log, inst.log_path, timeout, name=inst.name)

    def kill_instance(self, inst: Instance) -> None:
        assert inst.proc is not None
        inst.proc.send_signal(signal.SIGKILL)
        inst.proc.wait(timeout=10)
        inst.exits.append(inst.proc.returncode)
        inst.proc = None

    def stop_instance(self, inst: Instance) -> int | None:
        """SIGTERM (bounded), then SIGKILL; returns the exit status if it had exited by itself."""
        if inst.proc is None:
            return None
        early = stop_process(inst.proc)
        inst.proc = None
        return early

    # --- nginx ---------------------------------------------------------------------------
    def start_nginx(self, timeout: float = 20) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(nginx):
            raise RuntimeError("nginx not found (Debian package nginx: bash scripts/install-deps.sh)")
        out = self._script(str(REPO_ROOT / "deploy/nginx/render-local.sh"), str(self.nginx_dir),
                           f"127.0.0.1:{self.lb.port}", *[f"{inst.tag}={inst.upstream}" for inst in self.instances])
        conf = out.stdout.strip().splitlines()[-1]
        prefix = str(self.nginx_dir) + "/"
        test = subprocess.run([nginx, "-t", "-q", "-p", prefix, "-c", conf], capture_output=True, text=True, timeout=30)
        if test.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{test.stderr}")
        self._nginx_out = open(self.nginx_dir / "nginx.stderr", "ab")
        self.nginx = subprocess.Popen([nginx, "-p", prefix, "-c", conf], stdin=subprocess.DEVNULL,
                                      stdout=self._nginx_out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.nginx.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.nginx.returncode}:\n{self.nginx_log()}")
            try:
                if requests.get(self.lb.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"nginx did not answer /healthz within {timeout} s:\n{self.nginx_log()}")

    def stop_nginx(self) -> None:
        if self.nginx is None:
            return
        if self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGTERM)
            try:
                self.nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait(timeout=10)
        self.nginx = None

    def nginx_log(self, limit: int = 8000) -> str:
        parts = []
        for name in ("nginx.stderr", "error.log"):
            try:
                parts.append(f"--- {name}\n" + (self.nginx_dir / name).read_text(errors="replace")[-limit:])
            except OSError:
                pass
        return "\n".join(parts)

    def access_log_lines(self) -> list[str]:
        try:
            return (self.nginx_dir / "access.log").read_text(errors="replace").splitlines()
        except OSError:
            return []

    def instance_of_sid(self, sid: str) -> Instance:
        """The instance that made this Engine.IO sid (its tag, `<tag>.<random>`), where nginx sends
        the session's requests."""
        tag = sid.split(".", 1)[0] if "." in sid else None
        for inst in self.instances:
            if inst.tag == tag:
                return inst
        raise AssertionError(f"sid {sid!r} names no instance ({[i.tag for i in self.instances]})")

    def instance_at(self, upstream: str) -> Instance:
        """The instance nginx reports in X-Upstream (or the access log's up=)."""
        for inst in self.instances:
            if inst.upstream == upstream:
                return inst
        raise AssertionError(f"upstream {upstream!r} is not an instance ({[i.upstream for i in self.instances]})")

    # --- whole ---------------------------------------------------------------------------
    def start(self) -> None:
        self.start_postgres()
        self.start_redis()
        self.migrate_and_seed()
        for inst in self.instances:
            self.start_instance(inst)
        self.start_nginx()

    def cleanup(self) -> None:
        self.stop_nginx()
        for inst in self.instances:
            self.stop_instance(inst)
            if inst._log:
                inst._log.close()
                inst._log = None
        self.stop_redis()
        self.stop_postgres()
        if getattr(self, "_nginx_out", None):
            self._nginx_out.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] in ("Z", "X")
    except (OSError, IndexError):
        return True


def readyz(endpoint: Endpoint) -> tuple[int, dict | None]:
    try:
        r = requests.get(endpoint.url + "/readyz", timeout=5)
    except requests.RequestException:
        return 0, None
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, None


# --- nginx access log (format `lb` of deploy/nginx/render-local.sh) -------------------------

ACCESS = re.compile(r'^(?P<addr>\S+) \[[^\]]*\] "(?P<method>\S+) (?P<uri>\S+)[^"]*" (?P<status>\d{3}) \S+ '
                    r'up="(?P<up>[^"]*)" ust="(?P<ust>[^"]*)"')


@dataclass
class Access:
    addr: str
    method: str
    uri: str
    status: int
    upstream: str
    upstream_status: str

    @property
    def sid(self) -> str | None:
        m = re.search(r"[?&]sid=([^&]+)", self.uri)
        return m.group(1) if m else None


def parse_access(lines: list[str]) -> list[Access]:
    found = []
    for line in lines:
        m = ACCESS.match(line)
        if m:
            found.append(Access(m["addr"], m["method"], m["uri"], int(m["status"]), m["up"], m["ust"]))
    return found


# --- Socket.IO -------------------------------------------------------------------------------

class Tab(RecordingClient):
    """The recording client of tests/support (every EVENT packet in arrival order, hooked on the
    Engine.IO receive path) with a Bearer token, plus connects and disconnects.

    reconnect=True: python-socketio reconnects by itself; `auth` is then computed at every
    (re)connect as {"itemId": item, "lastBidId": the last bid id this tab has seen}.
    source_ip: polling requests leave from that loopback address."""

    record_acks = False

    def __init__(self, endpoint: Endpoint, *, token: str, reconnect: bool = False, source_ip: str | None = None,
                 label: str = ""):
        self.endpoint = endpoint
        self.label = label
        kw: dict[str, Any] = dict(reconnection=reconnect, request_timeout=10)
        if reconnect:
            kw.update(reconnection_attempts=0, reconnection_delay=0.5, reconnection_delay_max=2,
                      randomization_factor=0.2)
        self._http = None
        if source_ip:
            self._http = requests.Session()
            self._http.mount("http://", SourceAddressAdapter(source_ip))
            kw["http_session"] = self._http
        super().__init__(socketio.Client(**kw), {"Authorization": f"Bearer {token}"})
        self.connects = 0
        self.disconnects = 0
        self.auth_calls: list[dict] = []
        self.auth_times: list[float] = []   # time.monotonic() of each (re)connect's CONNECT packet
        self.last_bid_id: str | None = None
        self.item_id: str | None = None

        @self.sio.event
        def connect():
            with self.cond:
                self.connects += 1
                self.cond.notify_all()

        @self.sio.event
        def disconnect(*_args):
            with self.cond:
                self.disconnects += 1
                self.cond.notify_all()

    def _recorded(self, name: str, data: Any) -> None:
        if name == "bid" and isinstance(data, dict):
            self.last_bid_id = data["bid"]["id"]
        elif name == "auction:state" and isinstance(data, dict) and data.get("recentBids"):
            self.last_bid_id = data["recentBids"][-1]["id"]

    def _auth(self) -> dict:
        with self.cond:
            auth = {"itemId": self.item_id}
            if self.last_bid_id is not None:
                auth["lastBidId"] = self.last_bid_id
            self.auth_calls.append(dict(auth))
            self.auth_times.append(time.monotonic())
            return auth

    def connect(self, item_id: str, *, transports: list[str] | None = None, wait_state: bool = True) -> "Tab":
        self.item_id = item_id
        self.sio.connect(self.endpoint.url, headers=self.headers, auth=self._auth,
                         transports=transports or ["websocket"], wait_timeout=WAIT)
        if wait_state:
            assert self.wait_count("auction:state", 1), f"{self.label}: no auction:state after connecting"
        return self

    def wait_for(self, predicate: Callable[["Tab"], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if predicate(self):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.2))

    def close(self) -> None:
        super().close()
        if self._http is not None:
            self._http.close()


__all__ = ["Access", "Api", "Cluster", "Endpoint", "Instance", "Tab", "parse_access", "readyz",
           "source_ips", "wait_until", "ENGINE_CLOSE", "WAIT"]
