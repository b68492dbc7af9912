"""cleanupEmptyChildNamespaces on: a namespace made on demand goes away with its last socket,
and the next client to connect to the name gets a new one; a child with a socket left stays."""

from sio_helpers import Client
from support.waiting import wait_until

SERVER_ARGS = ["--cleanup-empty-child-namespaces"]


def test_a_child_goes_with_its_last_socket_and_comes_back_on_demand(clients, server):
    observer = clients()
    first = Client(server, namespaces=["/dynamic-51"]).connect()
    second = Client(server, namespaces=["/dynamic-51"]).connect()
    assert "/dynamic-51" in observer.call("namespaces")
    first.close()
    # The other socket keeps it: the observer's marker comes after the first's disconnect.
    assert observer.call("echo", "marker") == "marker"
    assert "/dynamic-51" in observer.call("namespaces")
    second.close()
    assert wait_until(lambda: "/dynamic-51" not in observer.call("namespaces")), observer.call("namespaces")
    again = clients(namespaces=["/dynamic-51"])
    assert again.call("echo", "back", namespace="/dynamic-51") == "back"
    assert "/dynamic-51" in observer.call("namespaces")


def test_namespaces_made_by_name_are_never_cleaned_up(clients, server):
    c = Client(server, namespaces=["/custom", "/dynamic-52"]).connect()
    observer = clients()
    c.close()
    # The child going shows the connection's sockets have left.
    assert wait_until(lambda: "/dynamic-52" not in observer.call("namespaces")), observer.call("namespaces")
    assert "/custom" in observer.call("namespaces")
