"""The throwaway servers of the suites, each on free loopback ports: PostgreSQL
(scripts/postgres.sh), Redis (scripts/redis.sh), `auction serve`, and the Socket.IO demo server.
Every wait is bounded."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from support.checkout import REPO_ROOT, auction_binary, demo_server_binary
from support.loopback import Loopback, free_port, port_open

# `make test` sets it: a server a suite needs (redis-server, nginx…) that is missing fails the run.
REQUIRE_TEST_SERVERS = os.environ.get("REQUIRE_TEST_SERVERS") == "1"


def missing_server(reason: str) -> None:
    """A server this test needs is not installed: skip, or fail under REQUIRE_TEST_SERVERS=1."""
    if REQUIRE_TEST_SERVERS:
        pytest.fail(f"{reason} (REQUIRE_TEST_SERVERS=1: missing test servers fail the run)", pytrace=False)
    pytest.skip(reason)


def tail(path: Path, limit: int = 30000) -> str:
    """The last `limit` characters of a log file ("" when there is none)."""
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


def run_script(script: str, *args: str, timeout: float = 120, check: bool = True) -> str:
    """scripts/<script> with these arguments; the last line it printed (the URL of a `start`; ""
    when it printed nothing, as a `stop`)."""
    out = subprocess.run(["bash", str(REPO_ROOT / "scripts" / script), *args], cwd=REPO_ROOT,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if not check:
        return ""
    if out.returncode != 0:
        raise RuntimeError(f"scripts/{script} {args[0]} failed ({out.returncode}):\n{out.stderr}{out.stdout}")
    lines = out.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> int | None:
    """SIGTERM, then SIGKILL after `timeout`; returns the exit status if it had exited by itself."""
    early = proc.poll()
    if early is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return early


class PostgresServer:
    """A throwaway PostgreSQL cluster in `directory` on 127.0.0.1:`port` (scripts/postgres.sh)."""

    def __init__(self, directory: Path, port: int | None = None):
        self.dir = directory
        self.port = port or free_port()
        self.url = ""

    def start(self, timeout: float = 120) -> str:
        """Starts it (or finds it running); returns its DATABASE_URL."""
        self.url = run_script("postgres.sh", "start", str(self.dir), str(self.port), timeout=timeout)
        return self.url

    def stop(self, timeout: float = 60) -> None:
        run_script("postgres.sh", "stop", str(self.dir), timeout=timeout, check=False)


class RedisServer:
    """A throwaway redis-server in `directory` on 127.0.0.1:`port`, no persistence
    (scripts/redis.sh)."""

    script_timeout = 60.0  # seconds for scripts/redis.sh start or stop
    cli_timeout = 10.0     # seconds for one redis-cli

    def __init__(self, directory: Path, port: int | None = None):
        self.dir = directory
        self.port = port or free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> str:
        """Starts it and waits until it answers PING; returns its REDIS_URL."""
        url = run_script("redis.sh", "start", str(self.dir), str(self.port), timeout=self.script_timeout)
        assert url == self.url, f"scripts/redis.sh start printed {url!r}, expected {self.url!r}"
        return url

    def stop(self, check: bool = False) -> None:
        """SHUTDOWN NOSAVE and wait until it is gone; with `check`, a failure raises."""
        run_script("redis.sh", "stop", str(self.dir), timeout=self.script_timeout, check=check)

    def running(self) -> bool:
        return subprocess.run(["bash", str(REPO_ROOT / "scripts" / "redis.sh"), "status", str(self.dir)],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=10).returncode == 0

    def pid(self) -> int | None:
        try:
            return int((self.dir / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def cli(self, *args: str) -> str:
        """redis-cli against it; its output, stripped. A failure raises."""
        out = subprocess.run([os.environ.get("REDIS_CLI", "redis-cli"), "-h", "127.0.0.1", "-p", str(self.port), *args],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=self.cli_timeout)
        if out.returncode != 0:
            raise RuntimeError(f"redis-cli {' '.join(args)} failed: {out.stderr}")
        return out.stdout.strip()

    def log_text(self, limit: int = 8000) -> str:
        try:
            text = (self.dir / "redis.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return text if len(text) <= limit else "...(truncated)...\n" + text[-limit:]


def start_serve(port: int, env: dict[str, str], log, log_path: Path, timeout: float = 60,
                binary: Path | None = None, cwd: Path | str = REPO_ROOT, name: str = "auction serve") -> subprocess.Popen:
    """`auction serve --port PORT` (`binary`, default the build's) started in `cwd` with this
    environment and its output in `log`, once it answers /healthz (bounded). `name` is how
    failures call it."""
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
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail(log_path)}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.1)
    proc.kill()
    proc.wait(10)
    raise RuntimeError(f"{name} did not answer /healthz within {timeout} s:\n{tail(log_path)}")


class DemoServer(Loopback):
    """One `socketio-demo-server --port P ARGS…` process on a free loopback port, ready once the
    port accepts connections."""

    stop_timeout = 5.0

    def __init__(self, args: list[str], log_path: Path, label: str = "demo server"):
        self.args = list(args)
        self.log_path = log_path
        self.label = label
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self, timeout: float = 30.0) -> None:
        binary = demo_server_binary()
        if not binary.exists():
            raise RuntimeError(
                f"{binary} does not exist: build it first (make build / swift build --build-tests)")
        self.port = free_port()
        cmd = [str(binary), "--port", str(self.port), *self.args]
        self._log = open(self.log_path, "ab")
        self._log.write(("$ " + " ".join(cmd) + "\n").encode())
        self._log.flush()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.label} exited with {self.proc.returncode} before listening:\n{self.log_text()}")
            if port_open(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.label} did not open port {self.port} within {timeout}s:\n{self.log_text()}")

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
                    self.proc.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return early

    def log_text(self, limit: int = 20000) -> str:
        try:
            text = self.log_path.read_bytes().decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        return text if len(text) <= limit else "...(truncated)...\n" + text[-limit:]
