"""Fixtures: one demo server per test module (SERVER_ARGS in the module adds
flags), and a factory of recording python-socketio clients closed after each
test. On a failing test the server's output is attached to the report."""

from __future__ import annotations

import pytest

from sio_helpers import Client
from support.servers import DemoServer

_servers: list[DemoServer] = []


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    args = list(getattr(request.module, "SERVER_ARGS", []))
    log = tmp_path_factory.mktemp("demo-server") / "server.log"
    srv = DemoServer(args, log)
    try:
        srv.start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    _servers.append(srv)
    yield srv
    _servers.remove(srv)
    early = srv.stop()
    if early is not None:
        pytest.fail(f"demo server exited by itself with status {early} during {request.module.__name__}:\n"
                    f"{srv.log_text()}", pytrace=False)


@pytest.fixture
def clients(server, request):
    """clients(**kw) -> a connected Client; all are disconnected at teardown. CLIENT_OPTIONS in
    the module are defaults for every client (e.g. python-socketio's serializer)."""
    made: list[Client] = []
    defaults = dict(getattr(request.module, "CLIENT_OPTIONS", {}))

    def make(connect: bool = True, **kw) -> Client:
        c = Client(server, **{**defaults, **kw})
        made.append(c)
        if connect:
            c.connect()
        return c

    yield make
    for c in made:
        c.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        srv = item.funcargs.get("server") if hasattr(item, "funcargs") else None
        for s in ([srv] if srv is not None else list(_servers)):
            state = "running" if s.alive() else f"EXITED with {s.proc.returncode if s.proc else '?'}"
            report.sections.append((f"demo server output (port {s.port}, {state})", s.log_text()))
