"""socketio-bench-server's command line as the contract has it: unknown flags and bad values print
the usage and exit with status 2; --adapter takes pubsub or sharded, --redis-cluster host:port
lists."""

from __future__ import annotations

import subprocess

import pytest

from support.checkout import built_binary
from support.loopback import free_port


def run(*args: str) -> subprocess.CompletedProcess:
    binary = built_binary("socketio-bench-server")
    if not binary.exists():
        pytest.fail(f"{binary} is missing: build it first (swift build --build-tests)", pytrace=False)
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("args", [["--bogus"], ["--adapter", "kafka"], ["--port", "http"], ["extra"]])
def test_a_bad_command_line_prints_the_usage_and_exits_2(args):
    out = run(*args)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "Usage: socketio-bench-server" in out.stderr or "USAGE: socketio-bench-server" in out.stderr, out.stderr


def test_help_lists_the_adapter_and_cluster_flags():
    out = run("--help")
    assert out.returncode == 0, out.stderr
    for flag in ("--redis", "--redis-cluster", "--adapter"):
        assert flag in out.stdout, out.stdout


def test_a_malformed_cluster_node_is_refused():
    out = run("--port", str(free_port()), "--adapter", "sharded", "--redis-cluster", "127.0.0.1:notaport")
    assert out.returncode != 0 and "--redis-cluster takes host:port" in out.stderr, (out.returncode, out.stderr)


@pytest.mark.parametrize("flags, cookie", [([], False), (["--cookie"], True)])
def test_cookie_sets_the_io_cookie_on_the_handshake(flags, cookie):
    import json
    import time

    import requests

    port = free_port()
    proc = subprocess.Popen([str(built_binary("socketio-bench-server")), "--port", str(port), *flags],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "the bench server did not start"
                time.sleep(0.05)
        sid = json.loads(r.text[1:])["sid"]
        if cookie:
            assert r.headers["Set-Cookie"] == f"io={sid}; Path=/; HttpOnly; SameSite=Lax"
        else:
            assert "Set-Cookie" not in r.headers
    finally:
        proc.terminate()
        proc.wait(timeout=10)
