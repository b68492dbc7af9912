"""Fixtures: one stack for the whole session (a throwaway PostgreSQL from scripts/postgres.sh
and a throwaway Redis from scripts/redis.sh on free loopback ports, `auction migrate`,
`auction seed`, `auction serve` with REDIS_URL on a free port with a known JWT_SECRET), a REST
helper, and a factory of recording Socket.IO clients closed after
each test. On a failing test the server's output is attached to the report."""

from __future__ import annotations

import pytest

from service_helpers import Api, SioClient, Stack

_stacks: list[Stack] = []


@pytest.fixture(scope="session")
def stack():
    s = Stack()
    _stacks.append(s)
    try:
        s.start_postgres()
        s.start_redis()
        for args in (["migrate", "--directory", "sql"], ["migrate", "--directory", "sql"], ["seed"], ["seed"]):
            out = s.run_command(*args)
            if out.returncode != 0:
                raise RuntimeError(f"auction {' '.join(args)} failed ({out.returncode}):\n{out.stdout}{out.stderr}")
            s.last_command_output = out.stdout + out.stderr
        s.start_server()
    except Exception as exc:  # noqa: BLE001
        log = s.log_text()
        s.cleanup()
        _stacks.remove(s)
        pytest.fail(f"could not start the stack: {exc}\n{log}", pytrace=False)
    yield s
    early = s.stop_server()
    s.cleanup()
    _stacks.remove(s)
    if early is not None:
        pytest.fail(f"auction serve exited by itself with status {early}:\n{s.log_text()}", pytrace=False)


@pytest.fixture(scope="session")
def api(stack):
    return Api(stack)


@pytest.fixture
def sio(stack):
    """sio(token=..., cookie=..., headers=...) -> an unconnected recording client; all are closed at teardown."""
    made: list[SioClient] = []

    def make(**kw) -> SioClient:
        c = SioClient(stack, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for s in _stacks:
            state = "running" if s.alive() else f"EXITED with {s.proc.returncode if s.proc else '?'}"
            report.sections.append((f"auction serve output (port {s.port}, {state}), last lines", s.log_text(12000)))
