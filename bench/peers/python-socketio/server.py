"""The benchmark application on python-socketio: the peer `make bench` measures us against.

The same app as `socketio-bench-server` (Sources/socketio-bench-server/main.swift): no auth; on
connection join the room named by the handshake query `room`; on `bid` (an object) broadcast
`bid` with the same payload to that room, sender included, and ack `{ok: true}`.

Stock setup of the library, as its documentation gives it: `AsyncServer` on aiohttp, the default
asyncio event loop, and `AsyncRedisManager` when instances share Redis. Loggers off, as ours are.

    python server.py --port 3400 [--redis redis://127.0.0.1:6379]
"""

import argparse
import urllib.parse

import socketio
from aiohttp import web


def make_app(redis_url):
    manager = socketio.AsyncRedisManager(redis_url) if redis_url else None
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        cors_allowed_origins="*",
        client_manager=manager,
        logger=False,
        engineio_logger=False,
    )
    rooms = {}

    @sio.event
    async def connect(sid, environ, auth=None):
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        room = query.get("room", [None])[0]
        if room:
            rooms[sid] = room
            await sio.enter_room(sid, room)

    @sio.event
    async def disconnect(sid, *reason):
        rooms.pop(sid, None)

    @sio.on("bid")
    async def bid(sid, payload=None):
        # The returned value is the ack, which python-socketio sends once the handler returns,
        # so here the broadcast leaves before the ack (ours acks first).
        if not isinstance(payload, dict):
            return {"ok": False}
        room = rooms.get(sid)
        if room:
            await sio.emit("bid", payload, to=room)
        return {"ok": True}

    app = web.Application()
    sio.attach(app)
    return app


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--redis", default=None, help="Redis URL; instances then share rooms through AsyncRedisManager")
    args = parser.parse_args()
    web.run_app(make_app(args.redis), host=args.host, port=args.port, access_log=None, backlog=4096, print=None)


if __name__ == "__main__":
    main()
