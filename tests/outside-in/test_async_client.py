"""The asyncio client (socketio.AsyncClient, aiohttp underneath): upgrade,
events, binary, server-initiated ack. Short heartbeat so that a failing run
does not wait on a 25 s long-poll while tearing down."""

import asyncio

import socketio

from sio_helpers import WAIT

SERVER_ARGS = ["--ping-interval", "1000", "--ping-timeout", "1000"]

JSON_VALUE = {"n": 1, "f": 2.5, "s": "héllo €", "l": [True, None, {"x": []}]}


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def connected_client(url, **connect_kw):
    sio = socketio.AsyncClient(reconnection=False, request_timeout=5)
    welcome = asyncio.get_running_loop().create_future()

    @sio.on("welcome")
    async def on_welcome(data):
        if not welcome.done():
            welcome.set_result(data)

    @sio.on("question")
    async def on_question(value):
        await asyncio.sleep(0.05)
        return {"async": value}

    await sio.connect(url, wait_timeout=WAIT, **connect_kw)
    return sio, await asyncio.wait_for(welcome, WAIT)


def test_async_client_default_transport_upgrades(server):
    async def main():
        sio, welcome = await connected_client(server.url, auth={"via": "async"})
        try:
            assert welcome == {"sid": sio.get_sid("/"), "auth": {"via": "async"}}
            for _ in range(100):
                if sio.transport() == "websocket":
                    break
                await asyncio.sleep(0.05)
            assert sio.transport() == "websocket", "AsyncClient stayed on polling: the WebSocket upgrade failed"
            assert await sio.call("echo", JSON_VALUE, timeout=WAIT) == JSON_VALUE
        finally:
            await sio.disconnect()

    run(main())


def test_async_client_events_binary_and_server_ack(server):
    for transports in (["polling"], ["websocket"]):
        async def main():
            sio, _ = await connected_client(server.url, transports=transports)
            try:
                assert sio.transport() == transports[0]
                assert await sio.call("echo", JSON_VALUE, timeout=WAIT) == JSON_VALUE
                assert await sio.call("echo", ("a", 2), timeout=WAIT) == ("a", 2)
                assert await sio.call("binary", timeout=WAIT) == b"\x01\x02\x03\x04"
                assert await sio.call("binary-echo", b"\x00\x01\x02", timeout=WAIT) == {
                    "size": 3, "data": b"\x00\x01\x02"}
                assert await sio.call("ask", 7, timeout=WAIT) == {"answer": {"async": 7}}
            finally:
                await sio.disconnect()

        run(main())
