"""Namespaces made on demand (Node's `io.of(regex)` / `io.of(fn)`): `/dynamic-<digits>` by a
pattern whose parent has a middleware, `/tenant-<name>` by a predicate on the name and the
auth; the parent's emits reach every child. Without cleanupEmptyChildNamespaces a child stays
after its last socket left (test_dynamic_namespaces_cleanup.py has the option on)."""

import pytest
import socketio

from sio_helpers import Client, assert_still_serving

TRANSPORTS = ["polling", "websocket"]


def refused(server, namespace, **kw):
    """The connect_error payloads a client connecting only `namespace` gets."""
    c = Client(server, namespaces=[namespace], transports=["websocket"], **kw)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            c.connect(wait_welcome=False)
        return c.rec.all("connect_error", namespace)
    finally:
        c.close()


def namespaces(c):
    return c.call("namespaces")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_names_the_pattern_matches_get_their_own_namespace(clients, transport):
    c = clients(namespaces=["/", "/dynamic-1", "/dynamic-22"], transports=[transport])
    assert c.rec.wait("welcome", "/dynamic-1")[0][0]["nsp"] == "/dynamic-1"
    assert c.rec.wait("welcome", "/dynamic-22")[0][0]["nsp"] == "/dynamic-22"
    assert c.call("echo", "one", namespace="/dynamic-1") == "one"
    assert c.call("echo", "two", namespace="/dynamic-22") == "two"
    assert {"/dynamic-1", "/dynamic-22"} <= set(namespaces(c))


def test_a_name_no_parent_accepts_is_an_invalid_namespace(server):
    for name in ["/dynamic-x", "/dynamic-", "/prefix/dynamic-1"]:
        assert refused(server, name) == [({"message": "Invalid namespace"},)], name
    c = Client(server).connect()
    try:
        assert not {"/dynamic-x", "/dynamic-", "/prefix/dynamic-1"} & set(namespaces(c))
    finally:
        c.close()
    assert_still_serving(server)


def test_the_parents_middleware_runs_for_its_children(server):
    assert refused(server, "/dynamic-3", auth={"token": "bad"}) == [
        ({"message": "refused by the parent", "data": {"nsp": "/dynamic-3"}},)]
    c = Client(server, namespaces=["/dynamic-3"], auth={"token": "good"}).connect()
    try:
        assert c.rec.all("welcome", "/dynamic-3")[0][0]["nsp"] == "/dynamic-3"
    finally:
        c.close()


def test_a_predicate_decides_by_name_and_auth(clients, server):
    assert refused(server, "/tenant-initech", auth={"tenant": "globex"}) == [({"message": "Invalid namespace"},)]
    c = clients(namespaces=["/tenant-acme"], auth={"tenant": "acme"})
    assert c.rec.all("welcome", "/tenant-acme")[0][0]["nsp"] == "/tenant-acme"
    # As in Node, the predicate decides whether the child is made; once it exists, connecting
    # to it is the parent's middleware's business (the demo's tenant parent has none).
    later = clients(namespaces=["/tenant-acme"], auth={"tenant": "globex"})
    assert later.rec.all("welcome", "/tenant-acme")[0][0]["nsp"] == "/tenant-acme"


def test_the_parents_emit_reaches_every_child_and_its_rooms(clients):
    a = clients(namespaces=["/", "/dynamic-7"], events=["from-parent"])
    b = clients(namespaces=["/dynamic-8"], events=["from-parent"])
    a.call("join", "vip", namespace="/dynamic-7")
    assert a.call("emit-children", {"data": "to all"}) == "ok"
    assert a.rec.wait("from-parent", "/dynamic-7")[0] == ("to all",)
    assert b.rec.wait("from-parent", "/dynamic-8")[0] == ("to all",)
    assert a.call("emit-children", {"data": "to vip", "room": "vip"}) == "ok"
    assert a.rec.wait("from-parent", "/dynamic-7", count=2)[1] == ("to vip",)
    # b is in no room "vip": a marker on its connection shows nothing more came for it.
    assert b.call("echo", "marker", namespace="/dynamic-8") == "marker"
    assert b.rec.all("from-parent", "/dynamic-8") == [("to all",)]
    # The parent's broadcast reaches children only, not the main namespace.
    assert a.rec.all("from-parent", "/") == []


def test_without_cleanup_a_child_outlives_its_last_socket(clients, server):
    c = Client(server, namespaces=["/dynamic-41"]).connect()
    c.close()
    observer = clients()
    assert "/dynamic-41" in namespaces(observer)
