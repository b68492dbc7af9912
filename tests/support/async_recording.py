"""An asyncio python-socketio client of the auction that records every `bid` event in the order
it arrived, with the wall-clock time it arrived, for scenarios with many sockets in one process
(a thread per client and a thread per event, as `recording.py`'s client has, does not scale to a
hundred sockets receiving thousands of events a second).

Like `recording.py`, it hooks the Engine.IO receive path, so the order is the order the packets
came off the transport. `bid` events are recorded there and not handed on to python-socketio
(no handler needs them, and decoding each one twice is what a hundred clients cannot afford);
every other packet goes its usual way. Every wait is bounded."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import engineio
import socketio


@dataclass
class Delivery:
    """One `bid` event as one socket received it."""
    bid_id: str
    at: float          # time.time() when it came off the transport
    event: dict        # {bid, mine, text}


class AsyncRecordingClient:
    """socketio.AsyncClient (no reconnection) with a Bearer token; `deliveries` are its `bid`
    events in arrival order, `highest` the highest price among them. Make it inside the event
    loop that runs it.

    Only the handshake carries the Bearer header (python-engineio sends no headers with later
    polls); a polling session goes on with its `session_id` cookie, so the HTTP session keeps
    cookies of IP-address hosts, which aiohttp's default jar refuses."""

    def __init__(self, url: str, token: str, *, label: str = "", request_timeout: float = 10):
        self.url = url
        self.token = token
        self.label = label
        self._http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.sio = socketio.AsyncClient(reconnection=False, request_timeout=request_timeout, handle_sigint=False,
                                        http_session=self._http)
        self.deliveries: list[Delivery] = []
        self.highest: int | None = None
        self.states: list[dict] = []
        self.connect_errors: list[Any] = []
        self.disconnects: list[tuple[float, Any]] = []   # (time.time(), reason), before close()
        self._closing = False
        self._changed = asyncio.Event()
        original = self.sio.eio._receive_packet

        async def receive(pkt):
            if pkt.packet_type == engineio.packet.MESSAGE and isinstance(pkt.data, str) \
                    and pkt.data.startswith('2["bid",'):
                self._record_bid(pkt.data)
                return None
            return await original(pkt)

        self.sio.eio._receive_packet = receive

        # With connection state recovery on, events end with their offset (an extra argument).
        @self.sio.on("auction:state")
        async def _state(data=None, *_offset):
            self.states.append(data)
            self._wake()

        @self.sio.on("connect_error")
        async def _connect_error(data=None):
            self.connect_errors.append(data)
            self._wake()

        @self.sio.on("disconnect")
        async def _disconnect(reason=None):
            if not self._closing:
                self.disconnects.append((time.time(), reason))
            self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _record_bid(self, text: str) -> None:
        at = time.time()
        try:
            args = json.loads(text[1:])
            event = args[1]
            bid_id = event["bid"]["id"]
            price = event["bid"]["price"]
        except (ValueError, LookupError, TypeError):
            raise AssertionError(f"{self.label}: malformed bid event {text[:300]!r}") from None
        self.deliveries.append(Delivery(bid_id, at, event))
        if self.highest is None or price > self.highest:
            self.highest = price

    async def connect(self, item_id: str, *, transports: list[str] | None = None, timeout: float = 15) -> None:
        """Connects with auth {itemId} and waits (bounded) for `auction:state`."""
        await self.sio.connect(self.url, headers={"Authorization": f"Bearer {self.token}"},
                               auth={"itemId": item_id}, transports=transports or ["websocket"],
                               wait_timeout=timeout)
        deadline = time.monotonic() + timeout
        while not self.states:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.label}: no auction:state within {timeout} s of connecting")
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def bid(self, item_id: str, price: int, *, client_bid_id: str | None = None, timeout: float = 30) -> Any:
        """Emits `bid` and returns its ack; raises socketio.exceptions.TimeoutError without one."""
        data: dict[str, Any] = {"itemId": item_id, "price": price}
        if client_bid_id is not None:
            data["clientBidId"] = client_bid_id
        return await self.sio.call("bid", data, timeout=timeout)

    def bid_ids(self) -> list[str]:
        return [d.bid_id for d in self.deliveries]

    async def close(self) -> None:
        self._closing = True
        try:
            await asyncio.wait_for(self.sio.disconnect(), 5)
        except Exception:  # noqa: BLE001 - teardown must not mask the test result
            pass
        try:
            await asyncio.wait_for(self.sio.shutdown(), 5)
        except Exception:  # noqa: BLE001
            pass
        await self._http.close()
