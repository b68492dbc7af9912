"""200 HTTP long-polling clients (no WebSocket) through nginx for 30 s: the load balancer keeps
every request of an Engine.IO session on the instance that made it, so no request meets
"Session ID unknown" (HTTP 400, {"code":1}); every client stays connected and gets the bids
placed meanwhile. The clients leave from 200 different loopback addresses (the address plays no
part in nginx's choice: each request goes to the instance its sid's tag names, see
test_8_sticky_by_session.py for 200 clients from one address); the sessions spread over both
instances."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict

import aiohttp
import socketio

from cluster_helpers import parse_access, source_ips
from service_helpers import assert_ok_ack, new_item, new_user

CLIENTS = 200
WINDOW = 30.0          # seconds all of them stay connected
BIDS = 4               # bids placed during the window, spread over it
USERS = 8              # the 200 clients are tabs of these users


class PollingClient:
    def __init__(self, n: int, url: str, token: str, source_ip: str):
        self.n = n
        self.url = url
        self.token = token
        self.source_ip = source_ip
        self.http: aiohttp.ClientSession | None = None
        self.sio: socketio.AsyncClient | None = None
        self.states = 0
        self.bids: list[str] = []
        self.disconnects = 0
        self.connect_errors: list = []
        self.failure: str | None = None

    async def connect(self, item_id: str) -> None:
        # One session per client: its own connection pool, bound to its own source address.
        # python-socketio sends the Authorization header with the handshake only; its later
        # polling requests prove whose session they are with the session_id cookie, which
        # aiohttp's default jar drops for IP-address hosts (unsafe=True keeps it).
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(self.source_ip, 0), limit=4),
                                          cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self.http, request_timeout=20,
                                        handle_sigint=False)

        @self.sio.on("auction:state")
        async def _state(_data):
            self.states += 1

        @self.sio.on("bid")
        async def _bid(data):
            self.bids.append(data["bid"]["id"])

        @self.sio.event
        async def disconnect(*_args):
            self.disconnects += 1

        @self.sio.on("connect_error")
        async def _error(data=None):
            self.connect_errors.append(data)

        try:
            await self.sio.connect(self.url, headers={"Authorization": f"Bearer {self.token}"},
                                   auth={"itemId": item_id}, transports=["polling"], wait_timeout=20)
        except Exception as exc:  # noqa: BLE001
            self.failure = f"connect: {exc!r}"

    @property
    def connected(self) -> bool:
        return self.sio is not None and self.sio.connected

    async def close(self) -> None:
        try:
            if self.sio is not None:
                await asyncio.wait_for(self.sio.disconnect(), 10)
        except Exception:  # noqa: BLE001
            pass
        if self.http is not None:
            await self.http.close()


async def scenario(cluster, item_id: str, tokens: list[str], bidder_tab, prices: list[int]) -> dict:
    next_ip = source_ips("88")
    clients = [PollingClient(n, cluster.lb.url, tokens[n % len(tokens)], next_ip()) for n in range(CLIENTS)]
    try:
        # Connect in waves of 20 (bounded), then wait for every auction:state.
        for i in range(0, CLIENTS, 20):
            await asyncio.gather(*(c.connect(item_id) for c in clients[i:i + 20]))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(c.states for c in clients if c.failure is None):
            await asyncio.sleep(0.1)
        failures = {c.n: c.failure for c in clients if c.failure}
        no_state = [c.n for c in clients if not c.states]

        # The window: a few bids spread over it, from a client of its own (not one of the 200).
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        acks = []
        for k, price in enumerate(prices):
            await asyncio.sleep(max(0.0, started + (k + 0.5) * WINDOW / len(prices) - time.monotonic()))
            acks.append(await loop.run_in_executor(None, bidder_tab.bid_retrying, item_id, price))
        await asyncio.sleep(max(0.0, started + WINDOW - time.monotonic()))

        # Let the last bid reach everyone (bounded), then look.
        ids = [a["bid"]["id"] for a in acks if isinstance(a, dict) and a.get("ok")]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(c.bids[-len(ids):] == ids for c in clients if c.connected):
            await asyncio.sleep(0.1)
        return {
            "clients": clients,
            "failures": failures,
            "no_state": no_state,
            "acks": acks,
            "ids": ids,
            "disconnected": [c.n for c in clients if not c.connected],
            "disconnects": sum(c.disconnects for c in clients),
            "connect_errors": {c.n: c.connect_errors for c in clients if c.connect_errors},
        }
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


def test_200_polling_clients_through_nginx_for_30_seconds(cluster, api, tab, one):
    seller = new_user(api, name="Polling Seller")
    item = new_item(api, seller, starting=10, increment=1)
    iid = item["id"]
    tokens = [new_user(api, name=f"Poller {i}").token for i in range(USERS)]
    bidder = new_user(api, name="Polling Bidder")
    bidder_tab = tab(one, token=bidder.token, label="bidder@1").connect(iid)
    log_start = len(cluster.access_log_lines())

    result = asyncio.run(scenario(cluster, iid, tokens, bidder_tab, [10 + k for k in range(BIDS)]))

    for ack in result["acks"]:
        assert_ok_ack(ack)
    assert not result["failures"], f"{len(result['failures'])} clients could not connect: " \
                                   f"{list(result['failures'].items())[:5]}"
    assert not result["no_state"], f"{len(result['no_state'])} clients got no auction:state"

    # nginx's view: every request of one Engine.IO session went to one instance, and none was
    # refused as "Session ID unknown" (400) or failed at the proxy (5xx).
    accesses = [a for a in parse_access(cluster.access_log_lines()[log_start:]) if a.uri.startswith("/socket.io/")]
    per_sid = defaultdict(set)
    for a in accesses:
        if a.sid:
            per_sid[a.sid].add(a.upstream)
    split = {sid: ups for sid, ups in per_sid.items() if len(ups) > 1}
    statuses = Counter(a.status for a in accesses)
    bad = [f"{a.method} {a.uri} -> {a.status} via {a.upstream}" for a in accesses if a.status >= 400]
    spread = Counter(next(iter(ups)) for ups in per_sid.values() if len(ups) == 1)
    # ... and that instance is the one the sid's tag names.
    misrouted = {sid: ups for sid, ups in per_sid.items() if ups != {cluster.instance_of_sid(sid).upstream}}
    print(f"polling: {len(accesses)} requests through nginx, statuses {dict(statuses)}, "
          f"{len(per_sid)} sessions per instance {dict(spread)}, client disconnects {result['disconnects']}")
    assert not split, f"{len(split)} sessions were spread over several instances: {list(split.items())[:3]}"
    assert not bad, f"{len(bad)} failed requests (400 = Session ID unknown): {bad[:10]}"
    assert not misrouted, f"{len(misrouted)} sessions reached another instance than their sid's: {list(misrouted.items())[:3]}"
    assert len(spread) == len(cluster.instances), f"the 200 sessions all went to one instance: {dict(spread)}"

    # The clients' view: all 200 stayed connected for the whole window and got every bid once.
    assert result["disconnects"] == 0 and not result["disconnected"], (
        f"{len(result['disconnected'])} clients were disconnected: {result['disconnected'][:20]}")
    assert not result["connect_errors"], list(result["connect_errors"].items())[:5]
    wrong = {c.n: c.bids for c in result["clients"] if c.bids != result["ids"]}
    assert not wrong, f"{len(wrong)} clients did not get exactly the {len(result['ids'])} bids: " \
                      f"{list(wrong.items())[:3]}"
