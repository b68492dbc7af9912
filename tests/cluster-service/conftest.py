"""Fixtures: one cluster for the whole session (throwaway PostgreSQL and Redis, two `auction
serve` instances sharing them, nginx in front with `make run`'s configuration), REST helpers per
endpoint, and a factory of recording Socket.IO tabs closed after each test. On a failing test the
output of both instances and nginx's logs are attached to the report."""

from __future__ import annotations

import pytest

from cluster_helpers import Api, Cluster, Tab

_clusters: list[Cluster] = []


@pytest.fixture(scope="session")
def cluster():
    c = Cluster()
    _clusters.append(c)
    try:
        c.start()
    except Exception as exc:  # noqa: BLE001
        logs = "\n".join(f"--- {i.name}\n{i.log_text(6000)}" for i in c.instances) + "\n" + c.nginx_log()
        c.cleanup()
        _clusters.remove(c)
        pytest.fail(f"could not start the cluster: {exc}\n{logs}", pytrace=False)
    yield c
    crashed = [(i.name, i.proc.poll()) for i in c.instances if i.proc is not None and i.proc.poll() is not None]
    nginx_exit = c.nginx.poll() if c.nginx is not None else None
    logs = "\n".join(f"--- {i.name}\n{i.log_text(6000)}" for i in c.instances)
    c.cleanup()
    _clusters.remove(c)
    if crashed or nginx_exit is not None:
        pytest.fail(f"exited by itself during the suite: instances {crashed}, nginx {nginx_exit}\n{logs}",
                    pytrace=False)


@pytest.fixture(scope="session")
def one(cluster):
    return cluster.instances[0]


@pytest.fixture(scope="session")
def two(cluster):
    return cluster.instances[1]


@pytest.fixture(scope="session")
def api(cluster):
    """REST on instance 1 (users, items, listings are in the shared PostgreSQL)."""
    return Api(cluster.instances[0])


@pytest.fixture
def tab():
    """tab(endpoint, token=..., reconnect=False, source_ip=None) -> an unconnected recording tab."""
    made: list[Tab] = []

    def make(endpoint, **kw) -> Tab:
        t = Tab(endpoint, **kw)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for c in _clusters:
            for inst in c.instances:
                state = "running" if inst.alive() else f"not running (earlier exits {inst.exits})"
                report.sections.append((f"{inst.name} (port {inst.port}, {state}), last lines", inst.log_text(8000)))
            report.sections.append(("nginx logs", c.nginx_log(4000)))
