"""Production Redis: a password (`requirepass`), an ACL user allowed only the commands, keys and
channels the service uses, and TLS (`rediss://`, certificates made here with openssl). Two
instances on such a Redis share sessions, sign-ins and broadcasts; a refused password, a Redis
that demands one, and a certificate from another CA stop `auction serve` with one line naming
the cause and the fix; a password that stops working while an instance runs shows in /readyz."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import requests

from service_helpers import Api, Instance, SioClient, assert_ok_ack, auction_binary, free_port, new_item, new_user, wait_until

REDIS_SERVER = os.environ.get("REDIS_SERVER", "redis-server")
REDIS_CLI = os.environ.get("REDIS_CLI", "redis-cli")
PASSWORD = "s3cret pass/word@:%"       # URL-encoded below: every character that needs it

# What the service sends to Redis, and nothing else (an ACL user limited to it must be enough).
COMMANDS = ("ping auth select get set del exists expire pexpire ttl incr hget hset hmget sadd smembers srem "
            "zadd zrange zrem zremrangebyscore eval publish subscribe psubscribe unsubscribe punsubscribe "
            "pubsub|numsub")


# The channels: sign-outs, and the adapter's (a PSUBSCRIBE pattern must be listed as itself).
CHANNELS = "&auction:signins-ended &socket.io#/#* &socket.io-request#/# &socket.io-response#/#*"


def encoded(text: str) -> str:
    from urllib.parse import quote
    return quote(text, safe="")


class RedisServer:
    """A redis-server of this test's own on a free loopback port, with the given directives."""

    def __init__(self, folder: Path, *directives: str, tls: bool = False):
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls = tls
        self.folder = folder
        listen = ["port 0", f"tls-port {self.port}"] if tls else [f"port {self.port}"]
        config = folder / "redis.conf"
        config.write_text("\n".join(["bind 127.0.0.1", *listen, 'save ""', "appendonly no", f"dir {folder}",
                                     *directives]) + "\n")
        self.log = open(folder / "redis.log", "ab")
        self.proc = subprocess.Popen([REDIS_SERVER, str(config)], stdout=self.log, stderr=subprocess.STDOUT)

    def cli(self, *args: str, password: str | None = None, user: str | None = None) -> str:
        cmd = [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port), "--no-auth-warning"]
        if self.tls:
            cmd += ["--tls", "--cacert", str(self.folder.parent / "ca.pem"), "--cert", str(self.folder.parent / "client.pem"),
                    "--key", str(self.folder.parent / "client.key")]
        if user:
            cmd += ["--user", user]
        if password:
            cmd += ["-a", password]
        out = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=10)
        return out.stdout + out.stderr

    def wait(self, password: str | None = None, user: str | None = None) -> None:
        assert wait_until(lambda: "PONG" in self.cli("ping", password=password, user=user), 10), \
            f"redis-server did not start:\n{(self.folder / 'redis.log').read_text()[-2000:]}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture
def servers():
    made: list[RedisServer] = []
    yield made
    for s in made:
        s.stop()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Path:
    """A CA, a server certificate for 127.0.0.1 signed by it, a client certificate signed by it, and
    a second CA that signed nothing of ours."""
    folder = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        out = subprocess.run(["openssl", *args], cwd=folder, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr

    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                "-days", "2", "-subj", f"/CN=auction test {ca}")
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    (folder / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN=auction test {name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    return folder


def tls_directives(certs: Path, *, client_certificates: bool = False) -> list[str]:
    return [f"tls-cert-file {certs / 'server.pem'}", f"tls-key-file {certs / 'server.key'}",
            f"tls-ca-cert-file {certs / 'ca.pem'}", f"tls-auth-clients {'yes' if client_certificates else 'no'}"]


def serve_fails(stack, **env: str) -> str:
    """`auction serve` with these settings: exits 1 with one line on stderr; that line."""
    environment = stack.env()
    environment.update(PORT=str(free_port()), **env)
    out = subprocess.run([str(auction_binary()), "serve"], env=environment, capture_output=True, text=True, timeout=60)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 1 and len(lines) == 1, f"status {out.returncode}, stderr:\n{out.stderr}\nstdout:\n{out.stdout[-2000:]}"
    return lines[0]


def assert_ready(inst) -> None:
    """/readyz says ready with Redis up within 10 s of the instance answering /healthz."""
    ready = wait_until(lambda: requests.get(inst.url + "/readyz", timeout=10).status_code == 200, 10)
    r = requests.get(inst.url + "/readyz", timeout=10)
    assert ready and r.json().get("redis") == "up", (r.status_code, r.text, inst.log_text())


def assert_cluster_works(stack, tmp_path: Path, redis: RedisServer, **env: str) -> None:
    """Two instances on `redis`: ready, a sign-in and session made on one are used on the other,
    a bid on one reaches a tab on the other, and the keys are in this Redis."""
    one = Instance(stack, tmp_path / "one.log", **env)
    two = Instance(stack, tmp_path / "two.log", **env)
    tabs: list[SioClient] = []
    try:
        for inst in (one, two):
            assert_ready(inst)
        seller = new_user(Api(one))
        item = new_item(Api(one), seller)
        bidder = new_user(Api(one))
        # The sign-in is in this Redis: refreshed on the other instance.
        renewed = Api(two).post("/auth/refresh", json={"refreshToken": bidder.refresh_token})
        assert renewed.status_code == 200, renewed.text
        watcher = new_user(Api(two))
        tabs = [SioClient(one, token=bidder.token).connect(item_id=item["id"]),
                SioClient(two, token=watcher.token).connect(item_id=item["id"], transports=["polling"])]
        bid = assert_ok_ack(tabs[0].bid(item["id"], item["startingPrice"]))
        assert tabs[1].wait_bid(bid["id"]), f"the bid on one instance did not reach the other:\n{two.log_text()}"
        keys = redis.cli("--scan", "--pattern", "auction:*")
        assert "auction:signin:" in keys and "auction:session:" in keys, keys
    finally:
        for t in tabs:
            t.close()
        one.stop()
        two.stop()


def test_a_redis_with_a_password(stack, tmp_path, servers):
    redis = RedisServer(tmp_path / "redis", f'requirepass "{PASSWORD}"')
    servers.append(redis)
    redis.wait(password=PASSWORD)
    url = f"redis://:{encoded(PASSWORD)}@127.0.0.1:{redis.port}"
    one = Instance(stack, tmp_path / "single.log", REDIS_URL=url)
    try:
        assert_ready(one)
    finally:
        one.stop()
    redis_cli = redis.cli

    def cli(*args, **_kw):
        return redis_cli(*args, password=PASSWORD)

    redis.cli = cli  # the checks below read this Redis with its password
    assert_cluster_works(stack, tmp_path, redis, REDIS_URL=url)


def test_an_acl_user_allowed_only_what_the_service_uses(stack, tmp_path, servers):
    allowed = " ".join("+" + c for c in COMMANDS.split())
    redis = RedisServer(tmp_path / "redis", "user default off",
                        f'user auction on ">{PASSWORD}" resetkeys' f" ~auction:* resetchannels {CHANNELS} "
                        f"-@all {allowed}",
                        "user admin on >admin ~* &* +@all")
    servers.append(redis)
    redis.wait(password="admin", user="admin")
    redis_cli = redis.cli
    redis.cli = lambda *args, **_kw: redis_cli(*args, password="admin", user="admin")
    assert_cluster_works(stack, tmp_path, redis, REDIS_URL=f"redis://auction:{encoded(PASSWORD)}@127.0.0.1:{redis.port}")
    # Nothing was refused by the ACL along the way.
    log = redis_cli("ACL", "LOG", password="admin", user="admin")
    assert "auction" not in log, log


def test_a_refused_password_is_one_line_at_start_up(stack, tmp_path, servers):
    redis = RedisServer(tmp_path / "redis", f'requirepass "{PASSWORD}"')
    servers.append(redis)
    redis.wait(password=PASSWORD)
    line = serve_fails(stack, REDIS_URL=f"redis://:wrong-password@127.0.0.1:{redis.port}")
    assert f"Redis at 127.0.0.1:{redis.port} refused the connection" in line and "WRONGPASS" in line, line
    assert "fix the user or password in REDIS_URL" in line and "wrong-password" not in line, line
    # No password at all, where one is demanded.
    line = serve_fails(stack, REDIS_URL=f"redis://127.0.0.1:{redis.port}")
    assert "NOAUTH" in line and "put its password in REDIS_URL" in line, line
    # A user without a password cannot be sent.
    line = serve_fails(stack, REDIS_URL=f"redis://auction@127.0.0.1:{redis.port}")
    assert "without a password" in line, line


def test_a_password_that_stops_working_shows_in_readyz(stack, tmp_path, servers):
    redis = RedisServer(tmp_path / "redis", f'requirepass "{PASSWORD}"')
    servers.append(redis)
    redis.wait(password=PASSWORD)
    inst = Instance(stack, tmp_path / "inst.log", REDIS_URL=f"redis://:{encoded(PASSWORD)}@127.0.0.1:{redis.port}")
    try:
        assert_ready(inst)
        # The operator rotates the password and drops the connections: the instance's AUTH on
        # reconnect is refused, and /readyz says so (not just "down").
        redis.cli("CONFIG", "SET", "requirepass", "rotated", password=PASSWORD)
        redis.cli("CLIENT", "KILL", "TYPE", "normal", password="rotated")
        redis.cli("CLIENT", "KILL", "TYPE", "pubsub", password="rotated")

        def refused():
            r = requests.get(inst.url + "/readyz", timeout=10)
            return r.json() if r.status_code == 503 and "WRONGPASS" in r.json().get("redisError", "") else None

        body = wait_until(refused, 15)
        assert body, requests.get(inst.url + "/readyz", timeout=10).text
        assert body["redis"] == "down" and body["redisError"].startswith("the password was refused"), body
        # Logged as an error once per cause, not at every retry.
        wait_until(lambda: False, 2)
        assert inst.log_text(200000).count("redis refused the connection") <= 2, inst.log_text()
        # Given the password back, the instance recovers by itself.
        redis.cli("CONFIG", "SET", "requirepass", PASSWORD, password="rotated")
        assert wait_until(lambda: requests.get(inst.url + "/readyz", timeout=10).status_code == 200, 15)
    finally:
        inst.stop()


def test_tls_with_the_ca_file(stack, tmp_path, servers, certificates):
    redis = RedisServer(certificates / "redis-tls", *tls_directives(certificates), tls=True)
    servers.append(redis)
    redis.wait()
    assert_cluster_works(stack, tmp_path, redis, REDIS_URL=f"rediss://127.0.0.1:{redis.port}",
                         REDIS_TLS_CA_FILE=str(certificates / "ca.pem"))


def test_tls_with_a_client_certificate(stack, tmp_path, servers, certificates):
    redis = RedisServer(certificates / "redis-mtls", *tls_directives(certificates, client_certificates=True), tls=True)
    servers.append(redis)
    redis.wait()
    env = dict(REDIS_URL=f"rediss://127.0.0.1:{redis.port}", REDIS_TLS_CA_FILE=str(certificates / "ca.pem"))
    line = serve_fails(stack, **env)
    assert "TLS with Redis" in line and "REDIS_TLS_CERT_FILE" in line, line
    inst = Instance(stack, tmp_path / "mtls.log", REDIS_TLS_CERT_FILE=str(certificates / "client.pem"),
                    REDIS_TLS_KEY_FILE=str(certificates / "client.key"), **env)
    try:
        assert_ready(inst)
    finally:
        inst.stop()


def test_a_certificate_from_another_ca_is_refused(stack, servers, certificates):
    redis = RedisServer(certificates / "redis-other", *tls_directives(certificates), tls=True)
    servers.append(redis)
    redis.wait()
    url = f"rediss://127.0.0.1:{redis.port}"
    line = serve_fails(stack, REDIS_URL=url, REDIS_TLS_CA_FILE=str(certificates / "other-ca.pem"))
    assert f"TLS with Redis at 127.0.0.1:{redis.port} failed" in line and "REDIS_TLS_CA_FILE" in line, line
    # Without a CA file the system's roots are used, which do not know our test CA either.
    line = serve_fails(stack, REDIS_URL=url)
    assert "TLS with Redis" in line, line
    # A CA file that is not there is named.
    line = serve_fails(stack, REDIS_URL=url, REDIS_TLS_CA_FILE=str(certificates / "missing.pem"))
    assert "missing.pem" in line, line
    # Plain redis:// against the TLS port is not TLS: it never becomes ready, but it is no start-up
    # failure either (Redis may simply be down) — covered by the outage tests, not here.
