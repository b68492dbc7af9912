"""A python-socketio client of the auction that records every packet in the order it arrived.

python-socketio runs each event handler in its own thread, so handler order is not arrival
order; the client hooks the Engine.IO receive path (the transport's read loop, one packet at a
time) to keep the true order."""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import engineio
import socketio

from support.waiting import WAIT

ENGINE_CLOSE = "<engine.io close packet>"
ACK = "<socket.io ack packet>"  # recorded as {"id": <ack id>, "args": [...]}


@dataclass
class Received:
    seq: int
    name: str
    data: Any
    at: float


class RecordingClient:
    """`sio` with every EVENT packet of namespace "/" recorded in arrival order (and its ACK
    packets, when `record_acks`), Engine.IO close packets and connect errors; `headers` go with
    every request."""

    record_acks = True

    def __init__(self, sio: socketio.Client, headers: dict[str, str]):
        self.sio = sio
        self.headers = headers
        self.cond = threading.Condition()
        self.received: list[Received] = []
        self.connect_errors: list[Any] = []
        self._seq = itertools.count()
        original = self.sio.eio._receive_packet

        def receive(pkt):
            if pkt.packet_type == engineio.packet.MESSAGE and isinstance(pkt.data, str):
                self._record(pkt.data)
            elif pkt.packet_type == engineio.packet.CLOSE:
                with self.cond:
                    self.received.append(Received(next(self._seq), ENGINE_CLOSE, None, time.monotonic()))
                    self.cond.notify_all()
            return original(pkt)

        self.sio.eio._receive_packet = receive

        @self.sio.on("connect_error")
        def _connect_error(data=None):
            with self.cond:
                self.connect_errors.append(data)
                self.cond.notify_all()

    def _record(self, text: str) -> None:
        # Socket.IO v5 EVENT on the main namespace: 2[<ack id>]["name", data...]; ACK: 3<id>[data...]
        if not text.startswith(("2", "3") if self.record_acks else "2"):
            return
        rest = text[1:]
        if rest.startswith("/"):
            return
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        try:
            args = json.loads(rest[i:])
        except ValueError:
            return
        if not isinstance(args, list):
            return
        if text.startswith("3"):
            if i == 0:
                return
            name, data = ACK, {"id": int(rest[:i]), "args": args}
        elif not args:
            return
        else:
            name, data = args[0], args[1] if len(args) > 1 else None
        with self.cond:
            self.received.append(Received(next(self._seq), name, data, time.monotonic()))
            self._recorded(name, data)
            self.cond.notify_all()

    def _recorded(self, name: str, data: Any) -> None:
        """Called with each packet recorded, under `cond` (for what a subclass keeps of them)."""

    # events
    def events(self, name: str) -> list[Any]:
        with self.cond:
            return [r.data for r in self.received if r.name == name]

    def records(self) -> list[Received]:
        with self.cond:
            return list(self.received)

    def wait_event(self, name: str, predicate: Callable[[Any], bool] = lambda _: True,
                   timeout: float = WAIT) -> Any:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for r in self.received:
                    if r.name == name and predicate(r.data):
                        return r.data
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def saw(self, name: str, timeout: float = WAIT) -> bool:
        """True once a packet named `name` arrived (for payload-less ones such as ENGINE_CLOSE)."""
        return len(self.wait_count(name, 1, timeout)) >= 1

    def wait_count(self, name: str, count: int, timeout: float = WAIT) -> list[Any]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [r.data for r in self.received if r.name == name]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    return found
                self.cond.wait(left)

    def bid_events(self) -> list[dict]:
        return self.events("bid")

    def wait_bid(self, bid_id: str, timeout: float = WAIT) -> dict | None:
        """The `bid` event of this bid once it arrived (None if it did not within `timeout`)."""
        return self.wait_event("bid", lambda e: isinstance(e, dict) and e["bid"]["id"] == bid_id, timeout)

    def state(self) -> dict | None:
        found = self.events("auction:state")
        return found[0] if found else None

    # bidding
    def bid(self, item_id: Any, price: Any = None, *, client_bid_id: Any = None, timeout: float = 10,
            payload: Any = ..., raw_payload: bool = False) -> Any:
        if raw_payload:
            data = payload
        else:
            data = {"itemId": item_id, "price": price}
            if client_bid_id is not None:
                data["clientBidId"] = client_bid_id
        return self.sio.call("bid", data, timeout=timeout)

    def bid_retrying(self, item_id: str, price: int, *, client_bid_id: str | None = None,
                     timeout: float = 20) -> Any:
        """A bid that waits out RATE_LIMITED answers (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            ack = self.bid(item_id, price, client_bid_id=client_bid_id)
            if not (isinstance(ack, dict) and ack.get("ok") is False and ack["error"]["code"] == "RATE_LIMITED"):
                return ack
            if time.monotonic() > deadline:
                return ack
            time.sleep(0.15)

    def close(self) -> None:
        try:
            self.sio.disconnect()
        except Exception:  # noqa: BLE001 - teardown must not mask the test result
            pass
        try:
            self.sio.shutdown()
        except Exception:  # noqa: BLE001
            pass
