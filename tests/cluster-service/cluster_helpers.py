"""Helpers of the cluster suite: a throwaway PostgreSQL (scripts/postgres.sh) and Redis
(scripts/redis.sh), two `auction serve` instances sharing them, and nginx in front of both with
the configuration `make run` uses (deploy/nginx/render-local.sh), all on free loopback ports.

REST helpers, users and items come from the service suite (tests/service/service_helpers.py);
the Socket.IO recorder here adds what a cluster needs: reconnection with `auth` computed at each
(re)connect, polling over a `requests` session bound to a chosen loopback source address, and
the last bid id seen. Every wait is bounded."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import engineio
import requests
import socketio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "service"))

from service_helpers import (  # noqa: E402  (reused from the service suite)
    ACCESS_TOKEN_TTL, JWT_SECRET, SESSION_TTL, Api, Loopback, SourceAddressAdapter, auction_binary, free_port,
)

REPO_ROOT = HERE.parents[1]
WAIT = 5.0


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


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
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""


class Cluster:
    """PostgreSQL + Redis + two instances + nginx, on free loopback ports under one temp dir."""

    def __init__(self, instances: int = 2) -> None:
        base = os.environ.get("TMPDIR", "/tmp")
        self.workdir = Path(tempfile.mkdtemp(prefix="auction-cluster-test-", dir=base))
        os.chmod(self.workdir, 0o755)   # postgres (and nginx workers) run unprivileged under root
        self.pg_dir = self.workdir / "pg"
        self.pg_port = free_port()
        self.redis_dir = self.workdir / "redis"
        self.redis_port = free_port()
        self.nginx_dir = self.workdir / "nginx"
        self.lb = Endpoint("nginx", free_port())
        self.nginx: subprocess.Popen | None = None
        self.instances = [Instance(f"instance{i + 1}", free_port(), self.workdir / f"instance{i + 1}.log")
                          for i in range(instances)]
        self.database_url = ""
        self.redis_url = ""

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
        return env

    def _script(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        out = subprocess.run(["bash", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}):\n{out.stderr}{out.stdout}")
        return out

    # --- PostgreSQL ----------------------------------------------------------------------
    def start_postgres(self) -> None:
        out = self._script(str(REPO_ROOT / "scripts/postgres.sh"), "start", str(self.pg_dir), str(self.pg_port))
        self.database_url = out.stdout.strip().splitlines()[-1]

    def stop_postgres(self) -> None:
        subprocess.run(["bash", str(REPO_ROOT / "scripts/postgres.sh"), "stop", str(self.pg_dir)],
                       cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)

    # --- Redis ---------------------------------------------------------------------------
    def start_redis(self) -> None:
        out = self._script(str(REPO_ROOT / "scripts/redis.sh"), "start", str(self.redis_dir), str(self.redis_port),
                           timeout=60)
        self.redis_url = out.stdout.strip().splitlines()[-1]

    def stop_redis(self) -> None:
        subprocess.run(["bash", str(REPO_ROOT / "scripts/redis.sh"), "stop", str(self.redis_dir)],
                       cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)

    def redis_pid(self) -> int | None:
        try:
            return int((self.redis_dir / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def kill_redis(self) -> None:
        """SIGKILL, as a crash would: no SHUTDOWN, connections reset."""
        pid = self.redis_pid()
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
        binary = auction_binary()
        if not binary.exists():
            raise RuntimeError(f"{binary} does not exist: build it first (swift build --product auction)")
        if inst._log is None:
            inst._log = open(inst.log_path, "ab")
        cmd = [str(binary), "serve", "--port", str(inst.port)]
        inst._log.write(("$ " + " ".join(cmd) + "\n").encode())
        inst._log.flush()
        env = self.env(inst.port)
        env["INSTANCE_ID"] = inst.tag   # what nginx routes its sessions' requests by
        inst.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                     stdout=inst._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if inst.proc.poll() is not None:
                raise RuntimeError(f"{inst.name} exited with {inst.proc.returncode}:\n{inst.log_text()}")
            try:
                if requests.get(inst.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{inst.name} did not answer /healthz within {timeout} s:\n{inst.log_text()}")

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
        early = inst.proc.poll()
        if early is None:
            inst.proc.send_signal(signal.SIGTERM)
            try:
                inst.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                inst.proc.kill()
                inst.proc.wait(timeout=10)
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

ENGINE_CLOSE = "<engine.io close packet>"


@dataclass
class Received:
    seq: int
    name: str
    data: Any
    at: float


class Tab:
    """A python-socketio client that records every EVENT packet in arrival order (hooked on the
    Engine.IO receive path, as the service suite does), plus connects and disconnects.

    reconnect=True: python-socketio reconnects by itself; `auth` is then computed at every
    (re)connect as {"itemId": item, "lastBidId": the last bid id this tab has seen}.
    source_ip: polling requests leave from that loopback address."""

    def __init__(self, endpoint: Endpoint, *, token: str, reconnect: bool = False, source_ip: str | None = None,
                 label: str = ""):
        self.endpoint = endpoint
        self.label = label
        self.headers = {"Authorization": f"Bearer {token}"}
        kw: dict[str, Any] = dict(reconnection=reconnect, request_timeout=10)
        if reconnect:
            kw.update(reconnection_attempts=0, reconnection_delay=0.5, reconnection_delay_max=2,
                      randomization_factor=0.2)
        self._http = None
        if source_ip:
            self._http = requests.Session()
            self._http.mount("http://", SourceAddressAdapter(source_ip))
            kw["http_session"] = self._http
        self.sio = socketio.Client(**kw)
        self.cond = threading.Condition()
        self.received: list[Received] = []
        self.connects = 0
        self.disconnects = 0
        self.connect_errors: list[Any] = []
        self.auth_calls: list[dict] = []
        self.auth_times: list[float] = []   # time.monotonic() of each (re)connect's CONNECT packet
        self.last_bid_id: str | None = None
        self.item_id: str | None = None
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

        @self.sio.on("connect_error")
        def _connect_error(data=None):
            with self.cond:
                self.connect_errors.append(data)
                self.cond.notify_all()

    def _record(self, text: str) -> None:
        if not text.startswith("2") or text[1:2] == "/":
            return
        rest = text[1:]
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        try:
            args = json.loads(rest[i:])
        except ValueError:
            return
        if not isinstance(args, list) or not args:
            return
        data = args[1] if len(args) > 1 else None
        with self.cond:
            self.received.append(Received(next(self._seq), args[0], data, time.monotonic()))
            if args[0] == "bid" and isinstance(data, dict):
                self.last_bid_id = data["bid"]["id"]
            elif args[0] == "auction:state" and isinstance(data, dict) and data.get("recentBids"):
                self.last_bid_id = data["recentBids"][-1]["id"]
            self.cond.notify_all()

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

    # events
    def events(self, name: str) -> list[Any]:
        with self.cond:
            return [r.data for r in self.received if r.name == name]

    def records(self) -> list[Received]:
        with self.cond:
            return list(self.received)

    def bid_events(self) -> list[dict]:
        return self.events("bid")

    def wait_count(self, name: str, count: int, timeout: float = WAIT) -> list[Any]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [r.data for r in self.received if r.name == name]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    return found
                self.cond.wait(left)

    def wait_bid(self, bid_id: str, timeout: float = WAIT) -> dict | None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for r in self.received:
                    if r.name == "bid" and isinstance(r.data, dict) and r.data["bid"]["id"] == bid_id:
                        return r.data
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

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

    # bidding
    def bid(self, item_id: str, price: int, timeout: float = 10) -> Any:
        return self.sio.call("bid", {"itemId": item_id, "price": price}, timeout=timeout)

    def bid_retrying(self, item_id: str, price: int, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            ack = self.bid(item_id, price)
            if not (isinstance(ack, dict) and ack.get("ok") is False and ack["error"]["code"] == "RATE_LIMITED"):
                return ack
            if time.monotonic() > deadline:
                return ack
            time.sleep(0.15)

    def close(self) -> None:
        try:
            self.sio.disconnect()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.sio.shutdown()
        except Exception:  # noqa: BLE001
            pass
        if self._http is not None:
            self._http.close()


def source_ips(prefix: str) -> Callable[[], str]:
    """Distinct loopback addresses 127.<prefix>.x.y (per-address limits count them apart)."""
    counter = itertools.count(1)

    def next_ip() -> str:
        n = next(counter)
        return f"127.{prefix}.{(n // 250) % 250}.{n % 250 + 1}"

    return next_ip


__all__ = ["Access", "Api", "Cluster", "Endpoint", "Instance", "Tab", "parse_access", "readyz",
           "source_ips", "wait_until", "ENGINE_CLOSE", "WAIT"]
