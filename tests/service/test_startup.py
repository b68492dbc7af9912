"""Start-up from anywhere: `auction migrate` and `auction serve` started from `/` find the
migrations and web pages (beside the executable, in the checkout it was built in, or where
AUCTION_SQL_DIR / AUCTION_WEB_DIR say), and every broken start-up is exactly one line on stderr
naming the cause and the fix, with exit status 1."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from service_helpers import REPO_ROOT, auction_binary, free_port, start_serve, wait_until

MIGRATIONS = sorted(p.stem for p in (REPO_ROOT / "sql").glob("[0-9][0-9][0-9]_*.sql"))


def run(binary: Path, *args: str, env: dict[str, str], cwd: str = "/", timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def one_line_failure(out: subprocess.CompletedProcess, *expected: str) -> str:
    """The command refused to start: status 1 and exactly one line on stderr holding `expected`."""
    lines = out.stderr.splitlines()
    assert out.returncode == 1, f"exit status {out.returncode}, stderr:\n{out.stderr}"
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{out.stderr}"
    for part in expected:
        assert part in lines[0], f"{part!r} not in the line: {lines[0]}"
    return lines[0]


@pytest.fixture
def fresh_database(stack):
    """A database of its own on the stack's PostgreSQL; its DATABASE_URL."""
    name = f"auction_startup_{os.getpid()}_{time.monotonic_ns()}"
    stack.psql(f"CREATE DATABASE {name}")
    yield stack.database_url.rsplit("/", 1)[0] + "/" + name
    stack.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def env(stack):
    environment = stack.env()
    for name in ("AUCTION_SQL_DIR", "AUCTION_WEB_DIR", "WEB_ROOT", "DATABASE_WAIT"):
        environment.pop(name, None)
    return environment


def placed_binary(folder: Path) -> Path:
    """The auction executable at folder/auction (a hard link, else a copy), nothing beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "auction"
    try:
        os.link(auction_binary(), target)
    except OSError:
        shutil.copy2(auction_binary(), target)
    return target


def applied(stack, url: str) -> list[str]:
    out = subprocess.run(["psql", url, "-X", "-tA", "-c", "SELECT version FROM schema_migrations ORDER BY version"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def serve_from(binary: Path, env: dict[str, str], workdir: Path, cwd: str = "/") -> tuple[subprocess.Popen, int]:
    port = free_port()
    log_path = workdir / f"serve-{port}.log"
    log = open(log_path, "ab")
    proc = start_serve(port, {**env, "PORT": str(port)}, log, log_path, binary=binary, cwd=cwd)
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def assert_serves_pages(port: int) -> None:
    base = f"http://127.0.0.1:{port}"
    ready = requests.get(f"{base}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    page = requests.get(f"{base}/", headers={"Accept": "text/html"}, timeout=5)
    assert page.status_code == 200, page.text
    assert 'name="email"' in page.text and 'name="password"' in page.text, page.text[:500]
    css = requests.get(f"{base}/static/app.css", timeout=5)
    assert css.status_code == 200, css.text
    assert css.headers["Content-Type"].startswith("text/css")
    assert css.content == (REPO_ROOT / "web" / "static" / "app.css").read_bytes()


# --- from anywhere ------------------------------------------------------------------------------

def test_migrate_from_root_finds_the_checkouts_migrations(env, fresh_database, stack):
    env["DATABASE_URL"] = fresh_database
    first = run(auction_binary(), "migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert applied(stack, fresh_database) == MIGRATIONS
    again = run(auction_binary(), "migrate", env=env)
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout


def test_serve_from_root_answers_readyz_and_serves_the_pages(env, stack):
    proc, port = serve_from(auction_binary(), env, stack.workdir)
    try:
        assert_serves_pages(port)
    finally:
        stop(proc)


def test_a_binary_copied_elsewhere_uses_the_folders_beside_it(env, fresh_database, stack, tmp_path):
    binary = placed_binary(tmp_path / "release")
    shutil.copytree(REPO_ROOT / "sql", tmp_path / "release" / "sql")
    shutil.copytree(REPO_ROOT / "web", tmp_path / "release" / "web")
    (tmp_path / "release" / "web" / "static" / "marker.css").write_text("/* beside the binary */\n")
    env["DATABASE_URL"] = fresh_database
    out = run(binary, "migrate", env=env)
    assert out.returncode == 0, out.stderr
    assert applied(stack, fresh_database) == MIGRATIONS
    proc, port = serve_from(binary, env, tmp_path)
    try:
        assert_serves_pages(port)
        marker = requests.get(f"http://127.0.0.1:{port}/static/marker.css", timeout=5)
        assert marker.status_code == 200 and "beside the binary" in marker.text
    finally:
        stop(proc)


def test_the_overrides_and_the_directory_flag_win(env, fresh_database, stack, tmp_path):
    only_first = tmp_path / "only-first"
    only_first.mkdir()
    shutil.copy2(REPO_ROOT / "sql" / f"{MIGRATIONS[0]}.sql", only_first)
    env["DATABASE_URL"] = fresh_database
    env["AUCTION_SQL_DIR"] = str(tmp_path / "does-not-exist")
    # --directory wins over AUCTION_SQL_DIR, which would fail.
    out = run(auction_binary(), "migrate", "--directory", str(only_first), env=env)
    assert out.returncode == 0, out.stderr
    assert applied(stack, fresh_database) == MIGRATIONS[:1]
    env["AUCTION_SQL_DIR"] = str(REPO_ROOT / "sql")
    out = run(auction_binary(), "migrate", env=env)
    assert out.returncode == 0, out.stderr
    assert applied(stack, fresh_database) == MIGRATIONS


def test_migrate_waits_for_a_postgresql_that_is_not_up_yet(env, fresh_database, stack):
    """DATABASE_WAIT: a server that starts during the wait is used (here a port that starts
    forwarding to the stack's PostgreSQL two seconds after migrate started)."""
    port = free_port()
    env["DATABASE_URL"] = fresh_database.replace(f":{stack.pg_port}/", f":{port}/")
    env["DATABASE_WAIT"] = "30"
    proc = subprocess.Popen([str(auction_binary()), "migrate"], cwd="/", env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    assert proc.poll() is None, f"migrate did not wait: {proc.communicate()}"
    with TcpForwarder(port, stack.pg_port):
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert applied(stack, fresh_database) == MIGRATIONS


# --- broken start-ups: one line each ------------------------------------------------------------

def test_no_migrations_beside_a_lone_binary(env, tmp_path):
    binary = placed_binary(tmp_path / "lonely")
    line = one_line_failure(run(binary, "migrate", env=env), "cannot find the migrations folder", str(binary), "AUCTION_SQL_DIR")
    assert "sql/" in line


def test_no_web_pages_beside_a_lone_binary(env, tmp_path):
    binary = placed_binary(tmp_path / "lonely")
    one_line_failure(run(binary, "serve", env=env), "cannot find the web pages folder", str(binary), "AUCTION_WEB_DIR")


def test_sql_folder_override_that_does_not_exist(env, tmp_path):
    env["AUCTION_SQL_DIR"] = str(tmp_path / "nope")
    one_line_failure(run(auction_binary(), "migrate", env=env),
                     f"AUCTION_SQL_DIR={tmp_path / 'nope'}", "not a usable migrations folder", "no such folder")


def test_directory_flag_naming_a_file(env, tmp_path):
    file = tmp_path / "001_x.sql"
    file.write_text("SELECT 1;\n")
    one_line_failure(run(auction_binary(), "migrate", "--directory", str(file), env=env),
                     f"--directory {file}", "not a folder")


def test_sql_folder_without_migrations(env, tmp_path):
    (tmp_path / "empty").mkdir()
    env["AUCTION_SQL_DIR"] = str(tmp_path / "empty")
    one_line_failure(run(auction_binary(), "migrate", env=env), "has no NNN_*.sql file", "AUCTION_SQL_DIR")


def test_sql_folder_the_service_may_not_read(env, stack):
    """Run as nobody (root reads everything): a folder of mode 000."""
    if shutil.which("runuser") is None or os.getuid() != 0:
        pytest.skip("needs root and runuser to run the binary as another user")
    base = stack.workdir / "unreadable"  # the stack's workdir is world-traversable
    locked = base / "locked"
    locked.mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "sql" / f"{MIGRATIONS[0]}.sql", locked)
    locked.chmod(0)
    base.chmod(0o755)
    binary = placed_binary(base / "bin")
    binary.parent.chmod(0o755)
    probe = subprocess.run(["runuser", "-u", "nobody", "--", str(binary), "--help"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run {binary}: {probe.stderr!r}")
    out = subprocess.run(["runuser", "-u", "nobody", "--", str(binary), "migrate", "--directory", str(locked)],
                         cwd="/", env=env, capture_output=True, text=True, timeout=60)
    one_line_failure(out, str(locked), "permission denied")


def test_web_folder_override_that_does_not_exist(env, tmp_path):
    env["AUCTION_WEB_DIR"] = str(tmp_path / "nope")
    one_line_failure(run(auction_binary(), "serve", env=env), "AUCTION_WEB_DIR=", "web pages folder", "no such folder")


def test_web_folder_without_the_room_page(env, tmp_path):
    web = tmp_path / "web"
    shutil.copytree(REPO_ROOT / "web", web)
    (web / "item.html").unlink()
    env["AUCTION_WEB_DIR"] = str(web)
    one_line_failure(run(auction_binary(), "serve", env=env), "item.html: no such file", "AUCTION_WEB_DIR")


@pytest.mark.parametrize("command", ["migrate", "serve"])
@pytest.mark.parametrize("url", ["mysql://u:p@127.0.0.1/db", "postgres://127.0.0.1:5432/db", "postgres://u@127.0.0.1:port/db"])
def test_malformed_database_url(env, command, url):
    env["DATABASE_URL"] = url
    one_line_failure(run(auction_binary(), command, env=env), "DATABASE_URL must look like postgres://user:pass@host:port/db")


def test_missing_database_url(env):
    env.pop("DATABASE_URL")
    one_line_failure(run(auction_binary(), "serve", env=env), "DATABASE_URL is required")


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "redis:///0", "redis://127.0.0.1:6379/zero"])
def test_malformed_redis_url(env, url):
    env["REDIS_URL"] = url
    one_line_failure(run(auction_binary(), "serve", env=env), "REDIS_URL")


@pytest.mark.parametrize("secret,expected", [
    (None, "JWT_SECRET is required when APP_ENV=production"),
    ("short-secret", "JWT_SECRET must be at least 32 bytes when APP_ENV=production, got 12"),
])
def test_weak_or_missing_secret_in_production(env, secret, expected):
    env["APP_ENV"] = "production"
    env.pop("JWT_SECRET")
    if secret is not None:
        env["JWT_SECRET"] = secret
    one_line_failure(run(auction_binary(), "serve", env=env), expected, "openssl rand")


@pytest.mark.parametrize("name,value", [("PORT", "http"), ("SESSION_TTL", "30m"), ("ACCESS_TOKEN_TTL", "-5"),
                                        ("DATABASE_WAIT", "soon"), ("MAX_CONNECTIONS_PER_USER", "1.5")])
def test_non_numeric_settings(env, name, value):
    env[name] = value
    one_line_failure(run(auction_binary(), "serve", env=env), f"{name} must be a positive whole number, got '{value}'")


@pytest.mark.parametrize("value", ["A1", "a.b", "node-1", "0123456789abcdefg"])
def test_instance_id_that_is_not_a_short_lowercase_tag(env, value):
    env["INSTANCE_ID"] = value
    one_line_failure(run(auction_binary(), "serve", env=env),
                     "INSTANCE_ID must be 1 to 16 lowercase letters or digits", f"got '{value}'")


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_postgresql_that_never_comes_up(env, stack, command):
    env["DATABASE_URL"] = stack.database_url.replace(f":{stack.pg_port}/", f":{free_port()}/")
    env["DATABASE_WAIT"] = "2"
    started = time.monotonic()
    out = run(auction_binary(), command, env=env)
    took = time.monotonic() - started
    one_line_failure(out, "did not accept a connection within 2 s", "connection refused", "DATABASE_WAIT")
    assert 2 <= took < 20, f"waited {took:.1f} s, DATABASE_WAIT=2"


def test_database_that_does_not_exist_fails_at_once(env, stack):
    env["DATABASE_URL"] = stack.database_url.rsplit("/", 1)[0] + "/no_such_database"
    env["DATABASE_WAIT"] = "30"
    started = time.monotonic()
    out = run(auction_binary(), "migrate", env=env)
    one_line_failure(out, "refused us", "no_such_database", "3D000", "DATABASE_URL")
    assert time.monotonic() - started < 10, "a refusal that waiting cannot change must not be waited for"


def test_port_already_in_use(env, stack):
    env["PORT"] = str(stack.port)
    one_line_failure(run(auction_binary(), "serve", env=env), f"port {stack.port} on 127.0.0.1 is already in use", "PORT")


def test_a_migration_postgresql_refuses_is_one_line(env, fresh_database, stack, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "001_typo.sql").write_text("CREATE TABLE fine (id int);\nSELEC 1;\n")
    env["DATABASE_URL"] = fresh_database
    one_line_failure(run(auction_binary(), "migrate", "--directory", str(folder), env=env),
                     "migration 001_typo failed and was rolled back", "SELEC", "42601")
    assert stack.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{fresh_database.rsplit('/', 1)[1]}'") == "1"
    tables = subprocess.run(["psql", fresh_database, "-X", "-tA", "-c", "SELECT to_regclass('fine') IS NULL"],
                            capture_output=True, text=True, timeout=30)
    assert tables.stdout.strip() == "t", "the failed migration's first statement must be rolled back"


# --- helpers ------------------------------------------------------------------------------------

def redis_answers(port: int) -> bool:
    """redis-cli gets an answer (for a Redis with requirepass, the NOAUTH refusal)."""
    out = subprocess.run([os.environ.get("REDIS_CLI", "redis-cli"), "-h", "127.0.0.1", "-p", str(port), "ping"],
                         capture_output=True, text=True, timeout=10)
    return "PONG" in out.stdout or "NOAUTH" in out.stdout + out.stderr


class TcpForwarder:
    """Listens on 127.0.0.1:`port` and forwards each connection to 127.0.0.1:`target`."""

    def __init__(self, port: int, target: int) -> None:
        self.port, self.target = port, target
        self.server = socket.create_server(("127.0.0.1", port))
        self.server.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> "TcpForwarder":
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.running = False
        self.thread.join(5)
        self.server.close()

    def _accept(self) -> None:
        while self.running:
            try:
                client, _ = self.server.accept()
            except OSError:
                continue
            client.settimeout(None)
            upstream = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            upstream.settimeout(None)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
