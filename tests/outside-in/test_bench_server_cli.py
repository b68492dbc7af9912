"""socketio-bench-server's command line as the contract has it: unknown flags and bad values print
the usage and exit with status 2; --adapter takes pubsub or sharded, --redis-cluster host:port
lists; --cookie sets the io cookie and --parser msgpack serves msgpack clients."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time

import pytest
import requests
import socketio

from support.checkout import built_binary
from support.loopback import free_port
from support.waiting import WAIT, wait_until


def run(*args: str) -> subprocess.CompletedProcess:
    binary = built_binary("socketio-bench-server")
    if not binary.exists():
        pytest.fail(f"{binary} is missing: build it first (swift build --build-tests)", pytrace=False)
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("args", [["--bogus"], ["--adapter", "kafka"], ["--port", "http"], ["extra"],
                                  ["--write-coalescing-ms", "-1"], ["--write-coalescing-ms", "5000"],
                                  ["--write-joining", "always"]])
def test_a_bad_command_line_prints_the_usage_and_exits_2(args):
    out = run(*args)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "Usage: socketio-bench-server" in out.stderr or "USAGE: socketio-bench-server" in out.stderr, out.stderr


def test_help_lists_the_adapter_and_cluster_flags():
    out = run("--help")
    assert out.returncode == 0, out.stderr
    for flag in ("--redis", "--redis-cluster", "--adapter", "--parser", "--cookie", "--write-coalescing-ms", "--write-joining"):
        assert flag in out.stdout, out.stdout


def test_a_malformed_cluster_node_is_refused():
    out = run("--port", str(free_port()), "--adapter", "sharded", "--redis-cluster", "127.0.0.1:notaport")
    assert out.returncode != 0 and "--redis-cluster takes host:port" in out.stderr, (out.returncode, out.stderr)


@contextlib.contextmanager
def bench_server(*flags: str):
    """A running bench server with these flags; its port."""
    port = free_port()
    proc = subprocess.Popen([str(built_binary("socketio-bench-server")), "--port", str(port), *flags],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "the bench server did not start"
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("flags, cookie", [([], False), (["--cookie"], True)])
def test_cookie_sets_the_io_cookie_on_the_handshake(flags, cookie):
    with bench_server(*flags) as port:
        r = requests.get(f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling", timeout=WAIT)
        sid = json.loads(r.text[1:])["sid"]
        if cookie:
            assert r.headers["Set-Cookie"] == f"io={sid}; Path=/; HttpOnly; SameSite=Lax"
        else:
            assert "Set-Cookie" not in r.headers


def test_parser_msgpack_serves_the_bench_app_to_a_msgpack_client():
    with bench_server("--parser", "msgpack") as port:
        got = []
        sio = socketio.Client(reconnection=False, serializer="msgpack")
        sio.on("bid", lambda payload: got.append(payload))
        sio.connect(f"http://127.0.0.1:{port}?room=r1", transports=["websocket"], wait_timeout=WAIT)
        try:
            assert sio.call("bid", {"price": 5}, timeout=WAIT) == {"ok": True}
            assert wait_until(lambda: got == [{"price": 5}])
        finally:
            sio.disconnect()
