"""Idle long-polling sessions, for bench/compare.sh: N Engine.IO v4 sessions that stay on HTTP
long-polling (never upgrade), each Socket.IO-connected to `/` and holding one GET open as a real
client does, and what each costs the server in resident memory.

    idle_polling.py --url http://127.0.0.1:3000 --connections 5000 --pid PID --json OUT

Each session is one keep-alive HTTP/1.1 connection: GET the handshake (`0{...}`: sid,
pingInterval), POST `40`, GET until the CONNECT reply `40{...}`, then keep a GET held; a held GET
answered with a ping (`2`) gets a POST `3` and is sent again, so a hold longer than pingInterval
stays valid. Memory per session = (server VmRSS once all are connected and --settle s have passed
− VmRSS before the first) / connected, from /proc/<pid>/status. The result has the shape of
`auction-bench idle`'s JSON where bench/report.py reads it. A session that fails is counted by
reason, not fatal. Python stdlib only; loopback only; every wait is bounded."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import resource
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timezone

RECORD_SEPARATOR = "\x1e"


class SessionFailed(Exception):
    """A session that could not be opened or held; the message is its key in the tally."""


@dataclass
class Tally:
    requested: int
    connected: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    # Sessions whose setup has ended, either way; the last one ends the setup phase.
    settled: int = 0
    last_settled_at: float = 0.0
    holding: int = 0
    dropped: int = 0
    drops: dict[str, int] = field(default_factory=dict)
    pings_answered: int = 0

    def fail(self, reason: str) -> None:
        self.failed += 1
        self.failures[reason] = self.failures.get(reason, 0) + 1

    def drop(self, reason: str) -> None:
        self.holding -= 1
        self.dropped += 1
        self.drops[reason] = self.drops.get(reason, 0) + 1


class PollingConnection:
    """One keep-alive HTTP/1.1 connection, one request at a time, as a polling transport uses it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader = reader
        self.writer = writer
        self.host = host

    @classmethod
    async def open(cls, host: str, port: int, timeout: float) -> PollingConnection:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except asyncio.TimeoutError:
            raise SessionFailed(f"no answer within {timeout:g} s") from None
        except OSError as error:
            raise SessionFailed(error.strerror or type(error).__name__) from None
        return cls(reader, writer, f"{host}:{port}")

    async def exchange(self, method: str, target: str, body: str = "", timeout: float = 10.0) -> list[str]:
        """The Engine.IO packets of the answer to one request; a status other than 200 fails."""
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.host}\r\nAccept: */*\r\n"
        if method == "POST":
            head += f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(body.encode())}\r\n"
        try:
            self.writer.write((head + "\r\n" + body).encode())
            status, payload = await asyncio.wait_for(self._response(), timeout)
        except asyncio.TimeoutError:
            raise SessionFailed(f"no answer within {timeout:g} s") from None
        except asyncio.IncompleteReadError:
            raise SessionFailed("connection closed by the server") from None
        except (asyncio.LimitOverrunError, ValueError):
            raise SessionFailed("malformed HTTP response") from None
        except OSError as error:
            raise SessionFailed(error.strerror or type(error).__name__) from None
        if status != 200:
            raise SessionFailed(f"HTTP {status}")
        return [packet for packet in payload.decode("utf-8", "replace").split(RECORD_SEPARATOR) if packet]

    async def _response(self) -> tuple[int, bytes]:
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise SessionFailed(f"not an HTTP response: {status_line[:60]!r}")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    return int(parts[1]), bytes(body)
                body += await self.reader.readexactly(size + 2)
                del body[-2:]
        if "content-length" in headers:
            return int(parts[1]), await self.reader.readexactly(int(headers["content-length"]))
        # Neither: the body ends with the connection, which a keep-alive session cannot go on with.
        body = await self.reader.read()
        raise SessionFailed(f"HTTP {parts[1]} without a length ({len(body)} bytes), connection closed")

    def close(self) -> None:
        self.writer.close()


@dataclass
class Session:
    connection: PollingConnection
    target: str
    ping_interval: float
    ping_timeout: float


async def answer(session: Session, packets: list[str], tally: Tally, timeout: float) -> bool:
    """Answers pings among the packets; true when the Socket.IO CONNECT reply is one of them."""
    connected = False
    for packet in packets:
        if packet == "2":
            await session.connection.exchange("POST", session.target, "3", timeout)
            tally.pings_answered += 1
        elif packet.startswith("1"):
            raise SessionFailed("Engine.IO close from the server")
        elif packet.startswith("44"):
            raise SessionFailed(f"CONNECT refused: {packet[2:82]}")
        elif packet.startswith("41"):
            raise SessionFailed("Socket.IO DISCONNECT from the server")
        elif packet.startswith("40"):
            connected = True
    return connected


async def open_session(host: str, port: int, path: str, tally: Tally, timeout: float) -> Session:
    """Handshake, CONNECT to `/`, CONNECT reply; raises SessionFailed("stage: reason")."""
    stage = "TCP connect"
    connection = None
    opened = False
    try:
        connection = await PollingConnection.open(host, port, timeout)
        stage = "handshake"
        base = f"{path}?EIO=4&transport=polling"
        packets = await connection.exchange("GET", base, timeout=timeout)
        if not packets or not packets[0].startswith("0{"):
            raise SessionFailed(f"no open packet: {(packets or [''])[0][:60]!r}")
        try:
            handshake = json.loads(packets[0][1:])
            session = Session(connection, f"{base}&sid={urllib.parse.quote(handshake['sid'], safe='')}",
                              handshake["pingInterval"] / 1000, handshake["pingTimeout"] / 1000)
        except (ValueError, KeyError, TypeError):
            raise SessionFailed(f"bad open packet: {packets[0][:60]!r}") from None
        stage = "POST 40"
        await connection.exchange("POST", session.target, "40", timeout)
        stage = "CONNECT reply"
        deadline = time.monotonic() + timeout
        # The handshake's answer may already carry more packets after the open one.
        pending = packets[1:]
        while not await answer(session, pending, tally, timeout):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SessionFailed(f"none within {timeout:g} s")
            pending = await connection.exchange("GET", session.target, timeout=remaining)
        opened = True
        return session
    except SessionFailed as failure:
        raise SessionFailed(f"{stage}: {failure}") from None
    finally:
        # Also when cancelled at the setup deadline.
        if connection and not opened:
            connection.close()


async def idle_session(host: str, port: int, path: str, tally: Tally, gate: asyncio.Semaphore,
                       timeout: float, in_setup: set[asyncio.Task], setup_ended: asyncio.Event) -> None:
    """One session from handshake to cancellation; counts itself in the tally."""
    try:
        async with gate:
            session = await open_session(host, port, path, tally, timeout)
    except SessionFailed as failure:
        tally.fail(str(failure))
        return
    except Exception as error:  # noqa: BLE001 - one broken session must not end the run
        tally.fail(f"setup: {type(error).__name__}: {error}")
        return
    finally:
        in_setup.discard(asyncio.current_task())
        tally.settled += 1
        tally.last_settled_at = time.monotonic()
        if tally.settled == tally.requested:
            setup_ended.set()
    tally.connected += 1
    tally.holding += 1
    # The server answers a held GET at the latest with its next ping, pingInterval from now.
    held_for = session.ping_interval + session.ping_timeout + timeout
    try:
        while True:
            packets = await session.connection.exchange("GET", session.target, timeout=held_for)
            await answer(session, packets, tally, timeout)
    except SessionFailed as failure:
        tally.drop(f"held poll: {failure}")
    except Exception as error:  # noqa: BLE001 - as above
        tally.drop(f"held poll: {type(error).__name__}: {error}")
    finally:
        session.connection.close()


class ResidentMemory:
    """VmRSS of one process. Its status file stays open and is re-read in place, so a reading
    still works once the sessions have taken every descriptor the limit allows."""

    def __init__(self, pid: int):
        self.descriptor = os.open(f"/proc/{pid}/status", os.O_RDONLY)

    def bytes(self) -> int | None:
        try:
            status = os.pread(self.descriptor, 16384, 0).decode("ascii", "replace")
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return None

    @staticmethod
    def of(pid: int) -> ResidentMemory | None:
        """None where the process is not there or its status has no VmRSS."""
        try:
            memory = ResidentMemory(pid)
        except OSError:
            return None
        return memory if memory.bytes() is not None else None


def megabytes(value: int | None) -> str:
    return "–" if value is None else f"{value / 1048576:.1f} MiB"


def raise_descriptor_limit() -> int:
    """The soft open-file limit raised to the hard one: one descriptor per session."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def loopback_address(url: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "http" or not parsed.hostname:
        raise SystemExit(f"--url must be http://HOST:PORT, not {url}")
    host = parsed.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SystemExit(f"--url must be a loopback address (the server's memory is read from /proc): {host}")
    return host, parsed.port or 80


async def run(args: argparse.Namespace) -> dict:
    descriptor_limit = raise_descriptor_limit()
    if args.connections + 64 > descriptor_limit:
        print(f"warning: {args.connections} sessions but the open-file limit is {descriptor_limit}", flush=True)
    host, port = loopback_address(args.url)
    started_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    server_memory = ResidentMemory.of(args.pid) if args.pid else None
    if args.pid and server_memory is None:
        raise SystemExit(f"cannot read VmRSS of process {args.pid} from /proc/{args.pid}/status")
    own_memory = ResidentMemory(os.getpid())

    def server_rss() -> int | None:
        return server_memory.bytes() if server_memory else None

    def rss_note() -> str:
        return f", server RSS {megabytes(server_rss())}" if args.pid else ""

    tally = Tally(requested=args.connections)
    gate = asyncio.Semaphore(args.parallel)
    setup_ended = asyncio.Event()
    rss_before = server_rss()
    print(f"idle-polling: {args.connections} sessions to {args.url}{rss_note()}", flush=True)
    setup_start = time.monotonic()
    tasks = []
    in_setup: set[asyncio.Task] = set()
    for _ in range(args.connections):
        task = asyncio.create_task(idle_session(host, port, args.path, tally, gate, args.timeout, in_setup, setup_ended))
        tasks.append(task)
        in_setup.add(task)
    try:
        setup_deadline = setup_start + args.setup_timeout
        while not setup_ended.is_set():
            remaining = setup_deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(setup_ended.wait(), min(1.0, remaining))
            except asyncio.TimeoutError:
                elapsed = time.monotonic() - setup_start
                print(f"  connecting: {tally.connected}/{args.connections} connected "
                      f"({tally.connected / elapsed:.0f}/s), {tally.failed} failed{rss_note()}", flush=True)
        setup_seconds = max(1e-9, (tally.last_settled_at or time.monotonic()) - setup_start)
        if in_setup:
            # Sessions still in setup at the deadline count as failed and go.
            unfinished = list(in_setup)
            for task in unfinished:
                task.cancel()
            await asyncio.wait(unfinished, timeout=10)
            tally.failed += len(unfinished)
            tally.failures[f"setup not finished within {args.setup_timeout:g} s"] = len(unfinished)
        setup_rate = tally.connected / setup_seconds
        print(f"  connected {tally.connected}/{args.connections} in {setup_seconds:.2f} s ({setup_rate:.0f}/s)", flush=True)
        for reason, count in sorted(tally.failures.items(), key=lambda item: -item[1]):
            print(f"  failed {count}×: {reason}", flush=True)
        if tally.connected == 0:
            raise SystemExit("idle-polling: no session connected")

        await asyncio.sleep(args.settle)
        rss_connected = server_rss()
        print(f"  settled: {tally.holding} holding a poll{rss_note()}", flush=True)
        await asyncio.sleep(args.hold)
        rss_after_hold = server_rss()
        open_after_hold = tally.holding
        print(f"  held {args.hold:g} s: {open_after_hold} holding, {tally.pings_answered} pings answered{rss_note()}", flush=True)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=30)
    client_rss = own_memory.bytes()
    # The server notices the closes asynchronously; give it a moment before the last reading.
    if args.pid:
        await asyncio.sleep(1)
    rss_after_close = server_rss()

    memory = None
    if rss_before is not None and rss_connected is not None:
        memory = {
            "rssBeforeBytes": rss_before,
            "rssConnectedBytes": rss_connected,
            "rssAfterHoldBytes": rss_after_hold,
            "rssAfterCloseBytes": rss_after_close,
            "bytesPerConnection": (rss_connected - rss_before) / tally.connected,
        }
    return {
        "scenario": "idle-polling",
        "startedAt": started_at,
        "parameters": {
            "url": args.url,
            "transport": "polling",
            "connections": args.connections,
            "serverPID": args.pid,
            "holdSeconds": args.hold,
            "settleSeconds": args.settle,
            "parallel": args.parallel,
            "clientFileDescriptorLimit": descriptor_limit,
        },
        "connections": {
            "requested": args.connections,
            "connected": tally.connected,
            "failed": tally.failed,
            "failures": tally.failures,
            "setupSeconds": setup_seconds,
            "setupPerSecond": setup_rate,
            "dropped": tally.dropped,
            "drops": tally.drops,
            "openAfterHold": open_after_hold,
            "pingsAnswered": tally.pings_answered,
        },
        "serverMemory": memory,
        "clientRSSBytes": client_rss,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="server URL (loopback)")
    parser.add_argument("--path", default="/socket.io/", help="Engine.IO mount point")
    parser.add_argument("--connections", type=int, default=1000, help="sessions to open")
    parser.add_argument("--pid", type=int, help="server pid, to read its VmRSS from /proc/<pid>/status")
    parser.add_argument("--hold", type=float, default=3.0, help="seconds to hold the sessions after measuring")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds after the last setup before reading memory")
    parser.add_argument("--parallel", type=int, default=200, help="sessions in setup at once")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds for each setup request")
    parser.add_argument("--setup-timeout", type=float, default=600.0, help="seconds for the whole setup")
    parser.add_argument("--json", help="result file")
    args = parser.parse_args()
    if args.connections <= 0 or args.parallel <= 0:
        parser.error("--connections and --parallel must be positive")
    if min(args.hold, args.settle) < 0 or min(args.timeout, args.setup_timeout) <= 0:
        parser.error("--hold and --settle cannot be negative, the timeouts must be positive")
    result = asyncio.run(run(args))
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)
            handle.write("\n")
    connections, memory = result["connections"], result["serverMemory"]
    if memory:
        per_session = f"{memory['bytesPerConnection'] / 1024:.1f} KiB per session"
    else:
        per_session = "memory not measured (" + ("the server went away" if args.pid else "no --pid") + ")"
    print(f"idle-polling summary: {connections['connected']}/{connections['requested']} connected "
          f"({connections['failed']} failed) at {connections['setupPerSecond']:.0f}/s, {connections['dropped']} dropped "
          f"while held; server RSS {megabytes(memory and memory['rssBeforeBytes'])} → "
          f"{megabytes(memory and memory['rssConnectedBytes'])}, {per_session}"
          f"{'; result ' + args.json if args.json else ''}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
