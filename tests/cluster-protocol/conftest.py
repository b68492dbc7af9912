"""Fixtures: per test module, a throwaway Redis (scripts/redis.sh) on a free port and two
`socketio-demo-server` instances (`--name one` / `--name two`) joined through it; a factory of
recording python-socketio clients, disconnected after each test. The demo server is built
with SwiftPM when its binary is missing. A failing test's report carries the servers' and
Redis' logs; a demo server that exits by itself fails its module."""

from __future__ import annotations

import pytest

from cluster_helpers import Client, Cluster, DemoServer, RedisServer, ensure_demo_server_built
from support.waiting import wait_until

_clusters: list[Cluster] = []
MEASUREMENTS: list[str] = []  # lines for the terminal summary (recovery times and such)


@pytest.fixture(scope="session")
def demo_binary():
    try:
        return ensure_demo_server_built()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


def start_cluster(request, base, extra_args=(), ready=None):
    """Generator for a module fixture: Redis and the two demo servers (with `extra_args`), ready
    once each counts two servers and `ready(cluster)` (if given) holds; yields the Cluster and, at
    the end, stops everything and fails the module if a demo server exited by itself."""
    redis = RedisServer(base / "redis")
    try:
        redis.start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    one = DemoServer("one", redis.url, base / "one.log", extra_args=list(extra_args))
    two = DemoServer("two", redis.url, base / "two.log", extra_args=list(extra_args))
    c = Cluster(redis, one, two)
    c.base = base
    _clusters.append(c)
    try:
        try:
            one.start()
            two.start()
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)
        # Both adapters subscribed: each sees two servers (PUBSUB NUMSUB of the request channel).
        for server in (one, two):
            probe = Client(server, label="ready-probe").connect()
            try:
                wait_until(lambda: probe.call("server-count") == 2, timeout=15,
                           message=f"{server.name} to count 2 servers")
            finally:
                probe.close()
        if ready is not None:
            wait_until(lambda: ready(c), timeout=15, message="the cluster to be ready")
        yield c
    finally:
        _clusters.remove(c)
        early = {s.name: s.stop() for s in (one, two)}
        try:
            redis.stop(check=True)
        except RuntimeError as exc:
            print(exc)
        exited = {name: code for name, code in early.items() if code is not None}
        if exited:
            pytest.fail(f"demo server(s) exited by themselves during {request.module.__name__}: {exited}\n"
                        + "\n".join(f"--- {s.name} ---\n{s.log_text()}" for s in (one, two)), pytrace=False)


@pytest.fixture(scope="module")
def cluster(request, demo_binary, tmp_path_factory):
    yield from start_cluster(request, tmp_path_factory.mktemp("cluster"))


@pytest.fixture
def clients():
    """clients(server, room=None, acks=None, label=None, transports=("websocket",), headers=None)
    -> a connected Client; all are disconnected at teardown."""
    made: list[Client] = []

    def make(server: DemoServer, room: str | None = None, acks: dict | None = None,
             label: str | None = None, connect: bool = True, transports=("websocket",),
             headers: dict | None = None) -> Client:
        c = Client(server, room=room, acks=acks, label=label, transports=transports, headers=headers)
        made.append(c)
        if connect:
            c.connect()
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def measure():
    """measure(text): a line for the end-of-run summary (shown even with -q)."""
    return MEASUREMENTS.append


def pytest_terminal_summary(terminalreporter):
    if MEASUREMENTS:
        terminalreporter.write_sep("-", "cluster-protocol measurements")
        for line in MEASUREMENTS:
            terminalreporter.write_line(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for c in list(_clusters):
            for s in c.servers:
                state = "running" if s.alive() else (
                    "killed by the test" if s.killed else f"EXITED with {s.proc.returncode if s.proc else '?'}")
                report.sections.append((f"demo server {s.name} (port {s.port}, {state})", s.log_text()))
            report.sections.append((f"redis (port {c.redis.port})", c.redis.log_text()))
