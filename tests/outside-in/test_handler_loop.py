"""A connection's event handlers run on its socket's event loop (SocketIO's EventLoopTaskExecutor),
one at a time by default, and come back to it after they await: the demo's `on-socket-loop`
acks whether `socket.conn.eventLoop.inEventLoop` held before and after a 5 ms sleep. On
polling, the session's loop is the one of the connection that opened it. The concurrent
handlers' case is in test_concurrent_handlers.py."""

import pytest

TRANSPORTS = ["polling", "websocket"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_handler_runs_on_its_connections_event_loop_before_and_after_it_awaits(clients, transport):
    c = clients(transports=[transport])
    for _ in range(3):
        assert c.call("on-socket-loop") == [True, True]
