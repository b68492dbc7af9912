"""`--concurrent-handlers`: a connection's event handlers start as their events arrive and
interleave (Node's scheduling), so a fast handler's ack overtakes a slow one's that came first.
The default (one at a time, in arrival order) is in test_server_api.py. Orders are read from
`Arrivals` (the receive path); no time is asserted."""

import pytest

from sio_helpers import slow_then_fast_ack_order

SERVER_ARGS = ["--concurrent-handlers"]

NS = "/parity"
TRANSPORTS = ["polling", "websocket"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_fast_handler_overtakes_a_slow_one(clients, transport):
    c = clients(namespaces=[NS], transports=[transport])
    assert slow_then_fast_ack_order(c, NS) == [["fast"], ["slow"]], "the fast handler waited for the slow one"



@pytest.mark.parametrize("transport", TRANSPORTS)
def test_concurrent_handlers_run_on_the_connections_event_loop_too(clients, transport):
    c = clients(transports=[transport])
    assert c.call("on-socket-loop") == [True, True]
