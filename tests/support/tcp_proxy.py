"""A TCP relay on loopback that a test can break: `TcpProxy` listens on 127.0.0.1 and pipes
every connection to an upstream loopback port, which can be changed (`retarget`) so that the
next connections reach another server. `cut()` ends every open connection abruptly on both
sides (SO_LINGER 0, so the peers get a RST, not a FIN: a dropped network, not a clean close),
and while `blocked` new connections are reset as soon as they are accepted.

One asyncio loop on a thread of its own; every call from the test's thread waits for the loop
(bounded), so when `cut()` returns the RSTs are sent."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading

from support.loopback import free_port

_LINGER_ZERO = struct.pack("ii", 1, 0)
_CALL_TIMEOUT = 10.0  # seconds a call from the test's thread waits for the loop


def _reset(writer: asyncio.StreamWriter) -> None:
    """Closes the connection of `writer` with a RST: linger 0, then close without flushing."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
        except OSError:
            pass
    writer.transport.abort()


class TcpProxy:
    """127.0.0.1:`port` → 127.0.0.1:`upstream_port`. Use as a context manager or start()/stop()."""

    def __init__(self, upstream_port: int, port: int | None = None):
        self.port = port or free_port()
        self.upstream_port = upstream_port
        self.blocked = False
        self.accepted = 0   # connections accepted, reset ones included
        self.refused = 0    # connections reset because the proxy was blocked or upstream refused
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._handlers: set[asyncio.Task] = set()  # one per accepted connection, until it ends
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origins(self) -> list[str]:
        """The origins a browser uses for pages served through the proxy (for CORS_ORIGINS)."""
        return [f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}"]

    # --- the test's side ---------------------------------------------------------------------

    def start(self) -> "TcpProxy":
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"tcp-proxy-{self.port}", daemon=True)
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._accept, "127.0.0.1", self.port))
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        try:
            self._call(self._close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(_CALL_TIMEOUT)
            self._loop.close()
            self._loop = None

    def __enter__(self) -> "TcpProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def retarget(self, upstream_port: int) -> None:
        """Connections accepted from now on go to this port (open ones stay where they are)."""
        self.upstream_port = upstream_port

    def block(self) -> None:
        """New connections are reset as soon as they are accepted, until `unblock()`."""
        self.blocked = True

    def unblock(self) -> None:
        self.blocked = False

    def cut(self) -> int:
        """Resets every open connection on both sides at once; returns how many there were."""
        return self._call(self._cut())

    def open_connections(self) -> int:
        return self._call(self._count())

    # --- the loop's side ---------------------------------------------------------------------

    def _call(self, coroutine):
        assert self._loop is not None, "the proxy is not started"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(_CALL_TIMEOUT)

    async def _count(self) -> int:
        return len(self._pairs)

    async def _cut(self) -> int:
        pairs = list(self._pairs)
        self._pairs.clear()
        for client, upstream in pairs:
            _reset(client)
            _reset(upstream)
        return len(pairs)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()  # no new connections
        await self._cut()
        # The cut ends every copy; let the handlers see it before the loop stops (and before
        # wait_closed, which from Python 3.12 on waits for the connections too).
        if self._handlers:
            await asyncio.wait(set(self._handlers), timeout=_CALL_TIMEOUT / 2)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
        if self.blocked:
            self.refused += 1
            _reset(client)
            return
        try:
            upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            self.refused += 1
            _reset(client)
            return
        if self.blocked:  # blocked (and maybe cut) while this one was being connected
            self.refused += 1
            _reset(upstream)
            _reset(client)
            return
        pair = (client, upstream)
        self._pairs.add(pair)
        try:
            await asyncio.gather(self._pump(client_reader, upstream), self._pump(upstream_reader, client))
        finally:
            if pair in self._pairs:  # ended by the peers, not cut
                self._pairs.discard(pair)
                for writer in pair:
                    writer.close()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copies one direction. An end of stream is passed on as a half close (HTTP keeps
        working); a reset (or any error) as a reset of the other connection."""
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            if not writer.is_closing() and writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            if not writer.is_closing():
                _reset(writer)
