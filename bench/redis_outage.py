"""Catch-up after losing Redis, for bench/streams.sh: python-socketio clients on two
socketio-bench-server instances (A and B) sharing one Redis, every socket in one room, bids at a
steady rate from emitters on both instances, every (socket, bid) delivery recorded as it comes off
the transport. Two disruptions:

- `kill`: redis-server SIGKILLed and started again (empty: no persistence; same port and
  directory, scripts/redis.sh) after `--down` s; "ready" is when it answers PING again;
- `cut`: B reaches Redis through `proxy` (a TCP relay of this file); for `--down` s the relay
  resets B's connections and refuses new ones, while Redis and A go on; "ready" is when it
  relays again.

    redis_outage.py run --setup NAME --url A --url B --disruption kill|cut … --json OUT
    redis_outage.py proxy --listen PORT --to PORT   (SIGUSR1 cuts, SIGUSR2 restores)
    redis_outage.py report OUT.json…                (Markdown tables of the runs, to stdout)

Times are the driver's monotonic clock. A bid is "before" when emitted before the disruption,
"during" until ready, "after" from then on. A delivery is cross-instance when the socket is on
the other instance than the bid's emitter. Every wait is bounded."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import engineio
import socketio

REPO = Path(__file__).resolve().parent.parent
BID_ID = re.compile(r'"id":"(b\d+)"')


@dataclass
class Client:
    instance: int
    index: int
    sio: socketio.AsyncClient
    http: aiohttp.ClientSession
    # bid id -> arrival times (more than one: a duplicate)
    arrivals: dict[str, list[float]] = field(default_factory=dict)
    disconnects: int = 0


@dataclass
class Bid:
    id: str
    instance: int
    sent: float
    acked: float | None = None


def make_client(instance: int, index: int) -> Client:
    http = aiohttp.ClientSession()
    sio = socketio.AsyncClient(reconnection=False, request_timeout=10, handle_sigint=False, http_session=http)
    client = Client(instance, index, sio, http)
    original = sio.eio._receive_packet

    # `bid` events are recorded on the Engine.IO receive path and not decoded by python-socketio:
    # thousands a second would otherwise cost more than the servers under test.
    async def receive(pkt):
        if pkt.packet_type == engineio.packet.MESSAGE and isinstance(pkt.data, str) and pkt.data.startswith('2["bid",'):
            at = time.monotonic()
            found = BID_ID.search(pkt.data)
            if found:
                client.arrivals.setdefault(found.group(1), []).append(at)
            return None
        return await original(pkt)

    sio.eio._receive_packet = receive

    @sio.on("disconnect")
    async def _disconnect(*_args):
        client.disconnects += 1

    return client


async def redis_answers(port: int) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 0.2)
    except (OSError, asyncio.TimeoutError):
        return False
    try:
        writer.write(b"PING\r\n")
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 0.2)).startswith(b"+PONG")
    except (OSError, asyncio.TimeoutError):
        return False
    finally:
        writer.close()


async def kill_redis(redis_dir: Path, port: int, down_for: float, times: dict[str, float]) -> None:
    """SIGKILL the redis-server of `redis_dir`, start it again `down_for` seconds later."""
    pid = int((redis_dir / "redis.pid").read_text().strip())
    os.kill(pid, signal.SIGKILL)
    times["down"] = time.monotonic()
    await asyncio.sleep(max(0.0, times["down"] + down_for - time.monotonic()))
    times["restart"] = time.monotonic()
    script = await asyncio.create_subprocess_exec(
        "bash", str(REPO / "scripts/redis.sh"), "start", str(redis_dir), str(port),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not await redis_answers(port):
        if time.monotonic() > deadline:
            raise SystemExit(f"redis-server did not answer on {port} within 10 s of its restart")
        await asyncio.sleep(0.005)
    times["ready"] = time.monotonic()
    await asyncio.wait_for(script.wait(), 15)


async def cut_proxy(proxy_pid: int, down_for: float, times: dict[str, float]) -> None:
    """The relay of instance B cut for `down_for` seconds."""
    os.kill(proxy_pid, signal.SIGUSR1)
    times["down"] = time.monotonic()
    await asyncio.sleep(max(0.0, times["down"] + down_for - time.monotonic()))
    os.kill(proxy_pid, signal.SIGUSR2)
    times["restart"] = times["ready"] = time.monotonic()


async def stream_bids(port: int, stream: str) -> set[str]:
    """The bid ids in the stream now (after a kill: what was appended since Redis came back)."""
    cli = await asyncio.create_subprocess_exec(
        "redis-cli", "-h", "127.0.0.1", "-p", str(port), "--raw", "XRANGE", stream, "-", "+",
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out, _ = await asyncio.wait_for(cli.communicate(), 15)
    return set(BID_ID.findall(out.decode(errors="replace")))


async def run(args: argparse.Namespace) -> dict:
    clients = [make_client(i, k) for i in range(len(args.url)) for k in range(args.sockets_per_instance)]
    try:
        for start in range(0, len(clients), 10):
            await asyncio.gather(*(
                c.sio.connect(f"{args.url[c.instance]}?room={args.room}", transports=["websocket"], wait_timeout=10)
                for c in clients[start:start + 10]))
        await asyncio.sleep(1.0)  # room joins land

        # Emitters alternate between the instances, one bid every 1/rate s.
        emitters = [c for k in range(args.emitters_per_instance) for i in range(len(args.url))
                    for c in clients if c.instance == i and c.index == k]
        bids: list[Bid] = []
        times: dict[str, float] = {}
        interval = 1.0 / args.rate
        t0 = time.monotonic() + 0.05
        times["start"] = t0
        end = t0 + args.before + args.down + args.after
        disruption = None
        k = 0
        while t0 + k * interval < end:
            due = t0 + k * interval
            if disruption is None and due >= t0 + args.before:
                disruption = asyncio.create_task(
                    kill_redis(Path(args.redis_dir), args.redis_port, args.down, times) if args.disruption == "kill"
                    else cut_proxy(args.proxy_pid, args.down, times))
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            emitter = emitters[k % len(emitters)]
            bid = Bid(f"b{k}", emitter.instance, time.monotonic())
            bids.append(bid)

            def acked(*_args, bid=bid):
                bid.acked = time.monotonic()

            await emitter.sio.emit("bid", {"id": bid.id, "from": emitter.instance}, callback=acked)
            k += 1
        if disruption is not None:
            await asyncio.wait_for(disruption, 20)

        # The drain: until every socket has every bid, or the timeout (bids lost for good must not
        # hold it up for longer).
        drain_end = time.monotonic() + args.drain
        while time.monotonic() < drain_end and not all(all(b.id in c.arrivals for b in bids) for c in clients):
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # late duplicates, if any
        appended = await stream_bids(args.redis_port, args.stream) if args.stream else None
        return summarize(args, clients, bids, times, appended)
    finally:
        for c in clients:
            try:
                await asyncio.wait_for(c.sio.disconnect(), 5)
            except Exception:  # noqa: BLE001 - teardown must not mask the result
                pass
            await c.http.close()


PHASES = ("before", "during", "after")
NAMES = "AB"


def summarize(args: argparse.Namespace, clients: list[Client], bids: list[Bid], times: dict[str, float],
              appended: set[str] | None) -> dict:
    ready = times["ready"]

    def phase(b: Bid) -> str:
        return "before" if b.sent < times["down"] else "during" if b.sent < ready else "after"

    def rel(t: float | None) -> float | None:
        return None if t is None else round(t - ready, 4)

    directions = [f"{NAMES[i]}>{NAMES[j]}" for i in range(len(args.url)) for j in range(len(args.url)) if i != j]
    lost = {d: {p: 0 for p in PHASES} for d in directions}
    expected = {d: {p: 0 for p in PHASES} for d in directions}
    local_lost = duplicates = 0
    first_after: dict[str, float] = {}          # direction -> first arrival of a bid emitted after ready
    last_during: dict[str, float] = {}          # direction -> last arrival of a bid emitted during
    latency_after: list[float] = []
    fully_crossed: dict[str, bool] = {}         # bid id -> every socket of the other instance got it
    for b in bids:
        p = phase(b)
        complete = True
        for c in clients:
            got = c.arrivals.get(b.id)
            duplicates += max(0, len(got or []) - 1)
            if c.instance == b.instance:
                local_lost += 0 if got else 1
                continue
            d = f"{NAMES[b.instance]}>{NAMES[c.instance]}"
            expected[d][p] += 1
            if not got:
                lost[d][p] += 1
                complete = False
                continue
            if p == "after":
                first_after[d] = min(first_after.get(d, got[0]), got[0])
                latency_after.append(got[0] - b.sent)
            if p == "during":
                last_during[d] = max(last_during.get(d, got[0]), got[0])
        fully_crossed[b.id] = complete

    # From which bid on did every later bid reach every socket of the other instance?
    resumed_from = None
    for b in reversed([b for b in bids if b.sent >= times["down"]]):
        if not fully_crossed[b.id]:
            break
        resumed_from = b
    latency_after.sort()

    # Streams: which bids are in the stream after the run, by phase, and did those all cross?
    stream = None
    if appended is not None:
        stream = {p: {"bids": sum(1 for b in bids if phase(b) == p),
                      "appended": sum(1 for b in bids if phase(b) == p and b.id in appended),
                      "appended_fully_crossed": sum(1 for b in bids if phase(b) == p and b.id in appended and fully_crossed[b.id])}
                  for p in PHASES}
        stream["appended_not_crossed"] = [b.id for b in bids if b.id in appended and not fully_crossed[b.id]]

    # Per 0.5 s of emission: cross-instance deliveries expected and arrived, by direction.
    timeline = []
    t = times["start"]
    while t < bids[-1].sent + 1e-9:
        row = {"t": round(t - times["start"], 2)}
        for d in directions:
            src, dst = NAMES.index(d[0]), NAMES.index(d[2])
            group = [b for b in bids if t <= b.sent < t + 0.5 and b.instance == src]
            targets = [c for c in clients if c.instance == dst]
            row[d] = [sum(1 for b in group for c in targets if b.id in c.arrivals), len(group) * len(targets)]
        timeline.append(row)
        t += 0.5

    return {
        "setup": args.setup,
        "disruption": args.disruption,
        "parameters": {
            "instances": len(args.url), "sockets_per_instance": args.sockets_per_instance,
            "emitters_per_instance": args.emitters_per_instance, "rate": args.rate,
            "before": args.before, "down": args.down, "after": args.after,
        },
        "times": {
            "down": round(times["down"] - times["start"], 4),
            "restart": round(times["restart"] - times["start"], 4),
            "ready": round(ready - times["start"], 4),
            "ready_after_restart": round(ready - times["restart"], 4),
        },
        "bids": len(bids),
        "acked": sum(1 for b in bids if b.acked is not None),
        "bids_by_phase": {p: sum(1 for b in bids if phase(b) == p) for p in PHASES},
        "cross_expected": expected,
        "cross_lost": lost,
        "local_lost": local_lost,
        "duplicates": duplicates,
        "disconnects": sum(c.disconnects for c in clients),
        "first_cross_after_ready": {d: rel(t) for d, t in sorted(first_after.items())},
        "last_cross_of_during_bids": {d: rel(t) for d, t in sorted(last_during.items())},
        "all_crossed_from": rel(resumed_from.sent) if resumed_from else None,
        "cross_latency_after_ms": {
            "p50": round(latency_after[len(latency_after) // 2] * 1000, 1) if latency_after else None,
            "max": round(latency_after[-1] * 1000, 1) if latency_after else None,
        },
        "not_crossed_before_down_ms": [round((times["down"] - b.sent) * 1000, 1)
                                       for b in bids if phase(b) == "before" and not fully_crossed[b.id]],
        "stream": stream,
        "timeline": timeline,
    }


def ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:,.0f} ms"


def report(paths: list[str]) -> None:
    runs = [json.loads(Path(p).read_text()) for p in paths]
    if not runs:
        return
    p, t, what = runs[0]["parameters"], runs[0]["times"], runs[0]["disruption"]
    load = (f"{p['sockets_per_instance']} sockets on each of instances A and B in one room, "
            f"{p['emitters_per_instance'] * p['instances']} emitters alternating between them, {p['rate']:g} bids/s; ")
    if what == "kill":
        print(load + f"redis-server SIGKILLed {p['before']:g} s in and started again {p['down']:g} s later, empty, "
              f"on the same port (answering PING {t['ready_after_restart'] * 1000:.0f} ms after its start); "
              f"{p['after']:g} s more of bids. Times below are from Redis answering again.")
    else:
        print(load + f"B's connections to Redis reset and refused for {p['down']:g} s from {p['before']:g} s in "
              f"(Redis and A unaffected); {p['after']:g} s more of bids. Times below are from B's relay working again.")
    print()
    print("| setup | first cross-instance delivery of a later bid, A→B / B→A | every later bid crosses from "
          "| cross-instance delivery after it, p50 / max | bids emitted during it that crossed: A→B / B→A | the last of them arrived |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in runs:
        first, exp, lost = r["first_cross_after_ready"], r["cross_expected"], r["cross_lost"]
        lat = r["cross_latency_after_ms"]
        crossed_during = " / ".join(f"{exp[d]['during'] - lost[d]['during']:,} of {exp[d]['during']:,}" for d in ("A>B", "B>A"))
        last = [v for v in r["last_cross_of_during_bids"].values() if v is not None]
        print(f"| {r['setup']} | {ms(first.get('A>B'))} / {ms(first.get('B>A'))} | {ms(r['all_crossed_from'])} "
              f"| {lat['p50']} / {lat['max']} ms | {crossed_during} | {ms(max(last)) if last else '–'} |")
    print()
    print("(socket, bid) deliveries that never arrived, by when the bid was emitted:")
    print()
    print("| setup | bids before / during / after | lost A→B: before / during / after | lost B→A: before / during / after "
          "| same-instance lost | duplicates | disconnects | bids in the stream after the run: during / after; all of them delivered everywhere |")
    print("|---|---|---|---|---:|---:|---:|---|")
    for r in runs:
        ph, lost = r["bids_by_phase"], r["cross_lost"]
        by = {d: " / ".join(f"{lost[d][k]:,}" for k in PHASES) for d in ("A>B", "B>A")}
        st = r["stream"]
        stream = (f"{st['during']['appended']} of {st['during']['bids']} / {st['after']['appended']} of {st['after']['bids']}; "
                  f"{'yes' if not st['appended_not_crossed'] else 'no: ' + ', '.join(st['appended_not_crossed'][:10])}") if st else "–"
        print(f"| {r['setup']} | {ph['before']} / {ph['during']} / {ph['after']} | {by['A>B']} | {by['B>A']} "
              f"| {r['local_lost']} | {r['duplicates']} | {r['disconnects']} | {stream} |")


async def relay(listen: int, target: int) -> None:
    """A TCP relay to Redis that SIGUSR1 cuts (every connection reset, new ones refused) and
    SIGUSR2 restores; SIGTERM ends it."""
    cut = False
    links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
    stop = asyncio.Event()

    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except OSError:
            pass
        finally:
            dst.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", target), 2)
        except (OSError, asyncio.TimeoutError):
            writer.transport.abort()
            return
        link = (writer, up_writer)
        links.add(link)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        links.discard(link)

    def set_cut(value: bool) -> None:
        nonlocal cut
        cut = value
        if value:
            for down, up in list(links):
                down.transport.abort()
                up.transport.abort()

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, set_cut, True)
    loop.add_signal_handler(signal.SIGUSR2, set_cut, False)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--setup", required=True)
    r.add_argument("--url", action="append", required=True, help="instance A, then B")
    r.add_argument("--disruption", choices=("kill", "cut"), required=True)
    r.add_argument("--redis-dir", help="kill: the directory of scripts/redis.sh's server")
    r.add_argument("--redis-port", type=int, required=True)
    r.add_argument("--proxy-pid", type=int, help="cut: the pid of B's relay")
    r.add_argument("--json", required=True)
    r.add_argument("--room", default="outage")
    r.add_argument("--sockets-per-instance", type=int, default=20)
    r.add_argument("--emitters-per-instance", type=int, default=2)
    r.add_argument("--rate", type=float, default=40.0)
    r.add_argument("--before", type=float, default=4.0)
    r.add_argument("--down", type=float, default=3.0)
    r.add_argument("--after", type=float, default=6.0)
    r.add_argument("--drain", type=float, default=10.0)
    r.add_argument("--stream", help="the adapter's stream key: which bids it holds after the run")
    x = sub.add_parser("proxy")
    x.add_argument("--listen", type=int, required=True)
    x.add_argument("--to", type=int, required=True)
    rep = sub.add_parser("report")
    rep.add_argument("json", nargs="+")
    args = parser.parse_args()
    if args.command == "report":
        report(args.json)
        return
    if args.command == "proxy":
        asyncio.run(relay(args.listen, args.to))
        return
    if args.disruption == "kill" and not args.redis_dir or args.disruption == "cut" and not args.proxy_pid:
        parser.error("--disruption kill needs --redis-dir, cut needs --proxy-pid")
    result = asyncio.run(asyncio.wait_for(run(args), args.before + args.down + args.after + args.drain + 90))
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    t, lost = result["times"], result["cross_lost"]
    print(f"  {args.disruption} at {t['down']:.2f} s, back at {t['ready']:.2f} s; {result['bids']} bids, {result['acked']} acked; "
          f"first cross-instance delivery after it A→B {ms(result['first_cross_after_ready'].get('A>B'))}, "
          f"B→A {ms(result['first_cross_after_ready'].get('B>A'))}; lost before/during/after A→B "
          f"{'/'.join(str(lost['A>B'][p]) for p in PHASES)}, B→A {'/'.join(str(lost['B>A'][p]) for p in PHASES)}; "
          f"duplicates {result['duplicates']}")
    for row in result["timeline"]:
        print(f"    t={row['t']:5.1f}s  crossed A→B {row['A>B'][0]:4d}/{row['A>B'][1]:<4d}  B→A {row['B>A'][0]:4d}/{row['B>A'][1]}")


if __name__ == "__main__":
    sys.exit(main())
