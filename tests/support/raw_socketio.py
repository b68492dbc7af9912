"""A raw Socket.IO v5 client over one WebSocket (websocket-client), for tests that look at frames
one by one: connection state recovery's pid and offsets, what comes before a CONNECT reply."""

from __future__ import annotations

import json

import websocket


class RawSocketIO:
    """A raw Socket.IO client over one WebSocket: frames in order, acks by id, pings answered."""

    def __init__(self, base: str, auth: dict | None = None, headers: dict[str, str] | None = None,
                 timeout: float = 5):
        """`base` is `ws://host:port`; `headers` go with the WebSocket handshake."""
        self.ws = websocket.create_connection(f"{base}/socket.io/?EIO=4&transport=websocket", timeout=timeout,
                                              header=[f"{k}: {v}" for k, v in (headers or {}).items()],
                                              suppress_origin=True)
        opening = self.ws.recv()
        assert opening.startswith("0{"), opening
        self.frames: list[str] = []
        self.taken: set[int] = set()
        self.next_id = 1
        self.ws.send("40" + (json.dumps(auth, separators=(",", ":")) if auth else ""))

    def recv(self) -> str:
        while True:
            frame = self.ws.recv()
            if frame == "2":
                self.ws.send("3")
                continue
            self.frames.append(frame)
            return frame

    def until(self, predicate, limit: int = 50) -> list[str]:
        """Frames up to and including the first that satisfies `predicate`."""
        got = []
        for _ in range(limit):
            frame = self.recv()
            got.append(frame)
            if predicate(frame):
                return got
        raise AssertionError(f"no such frame in {got}")

    def connect_reply(self) -> tuple[list[str], dict]:
        """The frames before the CONNECT reply, and its payload."""
        frames = self.until(lambda f: f.startswith("40"))
        self.taken.update(range(len(self.frames)))   # returned here, not to event()
        return frames[:-1], json.loads(frames[-1][2:])

    def call(self, event: str, *args):
        ack = self.next_id
        self.next_id += 1
        self.ws.send(f"42{ack}" + json.dumps([event, *args], separators=(",", ":")))
        frame = self.until(lambda f: f.startswith(f"43{ack}["))[-1]
        return json.loads(frame[len(f"43{ack}"):])[0]

    def event(self, name: str) -> list:
        """The next event `name` not returned yet (its arguments, offset last), received already
        (while waiting for an ack, say) or from now on."""
        def matches(frame: str) -> bool:
            return frame.startswith("42[") and json.loads(frame[2:])[0] == name

        for index, frame in enumerate(self.frames):
            if index not in self.taken and matches(frame):
                self.taken.add(index)
                return json.loads(frame[2:])[1:]
        self.until(matches)
        self.taken.add(len(self.frames) - 1)
        return json.loads(self.frames[-1][2:])[1:]

    def drop(self) -> None:
        """The connection vanishes: no Socket.IO or Engine.IO close, no WebSocket close frame."""
        self.ws.sock.close()

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass
