"""Redis SIGKILLed for 3 s in the middle of 20 s of bidding, under 100 sockets on two instances.

Its own cluster (the suite's shared one keeps the default adapter): two `auction serve` with
`SOCKETIO_ADAPTER` = the parameter, `BID_RATE`/`BID_BURST` lifted, one PostgreSQL and one
throwaway redis-server without persistence. 50 asyncio python-socketio clients per instance, all
in one item's room: 10 bidders with two tabs on each instance, each outbidding what its one
bidding tab has seen (with a clientBidId) every 0.1-0.4 s, and 5 users who only watch, six tabs
on each instance (two of them polling). About 7 s in, Redis is SIGKILLed; 3 s later it starts
again, empty, on the same port. After the bidding one more bid is the marker.

`streams` (the Redis Streams adapter: broadcasts are XADDed and every instance XREADs on from
its last entry id, so nothing published is skipped; a bid committed while Redis is away keeps
the item's turn until its append goes through): every bid acked ok reaches every socket exactly
once, in commit order (the order of the stored ids), within 15 s of the end of the bidding.

`pubsub` (the classic adapter: PUBLISH is at most once, what is published while Redis is away
is gone): the same except completeness. Each bid still reaches every socket of the instance it
was placed on, and the marker every socket (cross-instance delivery resumed); the deliveries
missing are printed, which is what pub/sub loses to a Redis crash.

Both: every bid gets an ack, and it is ok, BID_TOO_LOW or UNAVAILABLE (storage or Redis away:
nothing recorded); stored bids equal the ok acks, and no refused bid's clientBidId is in
PostgreSQL; no socket gets a bid twice, out of commit order, or with the wrong `mine`; no
instance exits, both answer /healthz, no socket is disconnected. The figures (bids acked,
refused UNAVAILABLE, what was sent or in flight while Redis was down, deliveries missing, the
catch-up delay after Redis came back) are printed to the terminal."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import socketio

from cluster_helpers import Api, Cluster, Instance
from service_helpers import assert_bid_text, new_item, new_user
from support.async_recording import AsyncRecordingClient
from support.bidding import assert_prices_rise, assert_stored_equals_acked
from support.rest import User

ADAPTERS = ["streams", "pubsub"]
BIDDERS = 10                 # users who bid, two tabs on each instance, bidding from one of them
BIDDER_TABS = 2              # per bidder per instance
WATCHERS = 5                 # users who only watch
WATCHER_TABS = 6             # per watcher per instance (watcher 0's first two there poll)
BIDDING = 20.0               # seconds of bidding
KILL_AT = 7.0                # seconds into the bidding
DOWN_FOR = 3.0               # seconds Redis stays dead
DELIVERY_WAIT = 15.0         # seconds after the bidding for every delivery
ACK_TIMEOUT = 30.0           # an ack may wait out the outage (its broadcast append is retried)
START, INCREMENT = 1000, 5
ALLOWED_REFUSALS = ("BID_TOO_LOW", "UNAVAILABLE")


@dataclass
class Attempt:
    user: User
    tab: AsyncRecordingClient
    price: int
    client_bid_id: str
    sent: float        # time.time()
    answered: float
    ack: Any           # None: no ack within ACK_TIMEOUT

    @property
    def code(self) -> str:
        if not isinstance(self.ack, dict):
            return "NO_ACK"
        if self.ack.get("ok") is True:
            return "OK"
        return str((self.ack.get("error") or {}).get("code"))


@dataclass
class Run:
    tabs: list[tuple[AsyncRecordingClient, User, Instance]]
    attempts: list[Attempt]
    started: float                # time.time() when the bidding began
    killed: float
    back: float
    ended: float
    delivered_by: float | None    # when the last expected delivery arrived (None: not all did)


@pytest.fixture(scope="module")
def stack():
    """PostgreSQL (migrated, seeded) and Redis of this module; instances start per test."""
    c = Cluster()
    c.extra_env.update(BID_RATE="1000", BID_BURST="1000")
    try:
        c.start_postgres()
        c.start_redis()
        c.migrate_and_seed()
    except Exception as exc:  # noqa: BLE001
        c.cleanup()
        pytest.fail(f"could not start PostgreSQL and Redis: {exc}", pytrace=False)
    yield c
    c.cleanup()


_people: list[tuple[User, list[User], list[User]]] = []


def people(api: Api) -> tuple[User, list[User], list[User]]:
    """(seller, bidders, watchers), registered and signed in once for both tests (bcrypt is slow,
    and the users live in the module's PostgreSQL); the seller is the first watcher."""
    if not _people:
        watchers = [new_user(api, name=f"Killed Watcher {i}") for i in range(WATCHERS)]
        bidders = [new_user(api, name=f"Killed Bidder {i}") for i in range(BIDDERS)]
        _people.append((watchers[0], bidders, watchers))
    return _people[0]


def stored_bids(api: Api, item_id: str) -> list[dict]:
    """Every stored bid of the item, oldest first (paged with `after`)."""
    found: list[dict] = []
    while True:
        after = f"&after={found[-1]['id']}" if found else ""
        page = api.get(f"/items/{item_id}/bids?limit=1000{after}").json()
        found += page
        if len(page) < 1000:
            return found


def healthz(inst: Instance) -> int:
    try:
        return requests.get(inst.url + "/healthz", timeout=5).status_code
    except requests.RequestException:
        return 0


async def scenario(cluster: Cluster, item_id: str, adapter: str, bidders: list[User], watchers: list[User]) -> Run:
    one, two = cluster.instances
    tabs: list[tuple[AsyncRecordingClient, User, Instance]] = []
    transports: dict[AsyncRecordingClient, list[str]] = {}
    for inst in (one, two):
        for user in bidders:
            for k in range(BIDDER_TABS):
                tabs.append((AsyncRecordingClient(inst.url, user.token, label=f"{user.name}#{k}@{inst.name}"), user, inst))
        for w, user in enumerate(watchers):
            for k in range(WATCHER_TABS):
                t = AsyncRecordingClient(inst.url, user.token, label=f"{user.name}#{k}@{inst.name}")
                transports[t] = ["polling"] if w == 0 and k < 2 else ["websocket"]
                tabs.append((t, user, inst))
    by_instance = Counter(inst.name for _, _, inst in tabs)
    assert by_instance == {one.name: 50, two.name: 50}, by_instance
    try:
        for i in range(0, len(tabs), 10):
            await asyncio.gather(*(t.connect(item_id, transports=transports.get(t)) for t, _, _ in tabs[i:i + 10]))
        # One bidding tab per bidder, on instance 1 for half of them and instance 2 for the others.
        bidding = []
        for n, user in enumerate(bidders):
            inst = one if n % 2 == 0 else two
            bidding.append(next((t, u) for t, u, i in tabs if u is user and i is inst))

        attempts: list[Attempt] = []
        t0 = time.time()
        stop_at = t0 + BIDDING
        outage: dict[str, float] = {}

        async def kill_and_restart():
            await asyncio.sleep(KILL_AT)
            await asyncio.to_thread(cluster.kill_redis)
            outage["killed"] = time.time()
            await asyncio.sleep(max(0.0, outage["killed"] + DOWN_FOR - time.time()))
            await asyncio.to_thread(cluster.start_redis)
            outage["back"] = time.time()

        async def bid_once(tab, user, price, tag) -> Attempt:
            cbid = f"killed-{adapter}-{user.id}-{tag}"
            sent = time.time()
            try:
                ack = await tab.bid(item_id, price, client_bid_id=cbid, timeout=ACK_TIMEOUT)
            except socketio.exceptions.TimeoutError:
                ack = None
            a = Attempt(user, tab, price, cbid, sent, time.time(), ack)
            attempts.append(a)
            return a

        async def bidder(n: int, tab: AsyncRecordingClient, user: User):
            rng = random.Random(f"{adapter}-{n}")
            own = None
            k = 0
            while time.time() < stop_at:
                k += 1
                known = [p for p in (tab.highest, own) if p is not None]
                price = max(known) + INCREMENT * rng.choice((1, 1, 2)) if known else START + INCREMENT * n
                a = await bid_once(tab, user, price, k)
                if a.code == "OK":
                    own = max(own or 0, price)
                await asyncio.sleep(rng.uniform(0.1, 0.4))

        await asyncio.gather(kill_and_restart(), *(bidder(n, t, u) for n, (t, u) in enumerate(bidding)))
        ended = time.time()

        # The marker: one more bid above everything; a late duplicate of an earlier bid would
        # come before it on every socket.
        tab, user = bidding[0]
        deadline = time.monotonic() + 15
        while True:
            top = max([a.price for a in attempts if a.code == "OK"] or [START])
            a = await bid_once(tab, user, top + INCREMENT, "marker")
            if a.code == "OK" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert a.code == "OK", f"the marker bid was not accepted within 15 s of the bidding: {a.ack!r}"
        marker = a.ack["bid"]["id"]

        # Every expected delivery (streams: every ok bid on every socket; pubsub: the marker on
        # every socket), bounded from the end of the bidding.
        ok_ids = {x.ack["bid"]["id"] for x in attempts if x.code == "OK"}
        expected = ok_ids if adapter == "streams" else {marker}
        delivered_by = None
        until = ended + DELIVERY_WAIT
        while time.time() < until:
            if all(expected <= set(t.bid_ids()) for t, _, _ in tabs):
                delivered_by = max(d.at for t, _, _ in tabs for d in t.deliveries if d.bid_id in expected)
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)   # anything sent twice late would be in by now
        return Run(tabs, attempts, t0, outage["killed"], outage["back"], ended, delivered_by)
    finally:
        await asyncio.gather(*(t.close() for t, _, _ in tabs))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_redis_killed_while_100_sockets_bid(stack, adapter, capsys):
    cluster = stack
    if not cluster.redis.running():   # an earlier test failed while Redis was away
        cluster.start_redis()
    cluster.extra_env["SOCKETIO_ADAPTER"] = adapter
    for inst in cluster.instances:
        try:
            cluster.start_instance(inst)
        except RuntimeError as exc:
            for i in cluster.instances:
                cluster.stop_instance(i)
            pytest.fail(f"`auction serve` with SOCKETIO_ADAPTER={adapter} did not start: {exc}", pytrace=False)
    try:
        check(cluster, adapter, capsys)
    except BaseException:
        for inst in cluster.instances:
            state = "running" if inst.alive() else f"exited {inst.proc.poll() if inst.proc else '?'}"
            print(f"--- {inst.name} (port {inst.port}, {state}), last lines\n{inst.log_text(8000)}")
        print(f"--- redis log\n{cluster.redis.log_text(3000)}")
        raise
    finally:
        exits = {inst.name: cluster.stop_instance(inst) for inst in cluster.instances}
    assert all(e is None for e in exits.values()), f"an instance exited by itself: {exits}"


def check(cluster: Cluster, adapter: str, capsys) -> None:
    api = Api(cluster.instances[0])
    seller, bidders, watchers = people(api)
    item = new_item(api, seller, starting=START, increment=INCREMENT, title=f"Redis killed ({adapter})")
    iid = item["id"]
    run = asyncio.run(scenario(cluster, iid, adapter, bidders, watchers))

    # No crash: both processes alive and serving.
    for inst in cluster.instances:
        assert inst.alive(), f"{inst.name} exited during the scenario:\n{inst.log_text(4000)}"
        assert healthz(inst) == 200, f"{inst.name} no longer answers /healthz 200"

    # Every bid got an ack, and only the answers the policy allows.
    codes = Counter(a.code for a in run.attempts)
    odd = [f"{a.tab.label} {a.price} ({a.client_bid_id}): {a.ack!r}" for a in run.attempts
           if a.code not in ("OK", *ALLOWED_REFUSALS)]
    assert not odd, f"bids without an ack or with an unexpected one ({codes}):\n" + "\n".join(odd[:20])
    ok = [a for a in run.attempts if a.code == "OK"]
    assert len(ok) >= 50, f"too few accepted bids to mean anything: {codes}"

    # Stored == acked ok, each once, equal to its ack; nothing refused is stored.
    stored = stored_bids(api, iid)
    assert_stored_equals_acked(stored, [a.ack["bid"] for a in ok])
    assert_prices_rise(stored, START, INCREMENT)
    stored_cbids = set(cluster.psql(f"SELECT client_bid_id FROM bids WHERE item_id = {int(iid)}").split())
    leaked = [a.client_bid_id for a in run.attempts if a.code != "OK" and a.client_bid_id in stored_cbids]
    assert not leaked, f"bids refused (UNAVAILABLE or BID_TOO_LOW) are stored: {leaked[:20]}"
    assert stored_cbids == {a.client_bid_id for a in ok}, "the stored clientBidIds are not those acked ok"
    stored_ids = [b["id"] for b in stored]
    rank = {bid_id: n for n, bid_id in enumerate(stored_ids)}
    # createdAt has whole seconds: a bid's time here is when its bidder sent it.
    sent = {a.ack["bid"]["id"]: a.sent for a in ok}

    # What each socket got: nothing unknown, nothing twice, in commit order, `mine` right;
    # completeness with streams.
    instance_of = {t: inst for t, _, inst in run.tabs}
    placed_on = {a.ack["bid"]["id"]: instance_of[a.tab] for a in ok}
    missing: list[tuple[str, str]] = []
    missing_local: list[tuple[str, str]] = []
    problems: list[str] = []
    for t, user, inst in run.tabs:
        seen = t.bid_ids()
        if t.disconnects:
            problems.append(f"{t.label} was disconnected: {t.disconnects}")
        unknown = [i for i in seen if i not in rank]
        dupes = sorted((i for i, k in Counter(seen).items() if k > 1), key=lambda i: rank.get(i, -1))
        known = [rank[i] for i in seen if i in rank]
        out_of_order = sum(1 for x, y in zip(known, known[1:]) if y <= x)
        got = set(seen)
        absent = [i for i in stored_ids if i not in got]
        missing += [(t.label, i) for i in absent]
        missing_local += [(t.label, i) for i in absent if placed_on[i] is inst]
        if unknown or dupes or out_of_order:
            problems.append(f"{t.label}: {len(seen)} bid events, unknown ids {unknown[:5]}, twice {dupes[:5]}, "
                            f"{out_of_order} out of commit order")
        for d in t.deliveries:
            assert_bid_text(d.event, user.id, t.label)

    # Figures.
    window = [a for a in run.attempts if run.killed <= a.sent <= run.back]
    spanning = [a for a in run.attempts if a.sent <= run.back and a.answered >= run.killed]
    after_back = [(d.at - run.back) for t, _, _ in run.tabs for d in t.deliveries
                  if d.bid_id in sent and sent[d.bid_id] <= run.back and d.at >= run.back]
    latency = [d.at - sent[d.bid_id] for t, _, _ in run.tabs for d in t.deliveries if d.bid_id in sent]
    ack_waits = [a.answered - a.sent for a in run.attempts if a.code != "NO_ACK"]
    missing_bids = Counter(i for _, i in missing)
    in_outage = sum(k for i, k in missing_bids.items() if run.killed - 1 <= sent[i] <= run.back + 5)
    lines = [
        f"redis killed [{adapter}]: {len(run.tabs)} sockets, {len(run.attempts)} bids sent, {len(ok)} acked ok, "
        f"{codes['UNAVAILABLE']} refused UNAVAILABLE, {codes['BID_TOO_LOW']} BID_TOO_LOW; "
        f"Redis down {run.back - run.killed:.1f} s from t={run.killed - run.started:.1f} s of {BIDDING:.0f} s",
        f"  sent while Redis was down: {len(window)} ({dict(Counter(a.code for a in window))}); in flight or sent "
        f"then: {len(spanning)} ({dict(Counter(a.code for a in spanning))}); longest ack wait {max(ack_waits):.2f} s, "
        f"{sum(1 for w in ack_waits if w > 1)} over 1 s",
        f"  deliveries: {len(run.tabs) * len(stored_ids) - len(missing)} of {len(run.tabs) * len(stored_ids)}, "
        f"missing {len(missing)} ({len(missing_bids)} bids; {in_outage} of them for bids made within 1 s before "
        f"to 5 s after the outage; bids by sockets missing them: {dict(sorted(Counter(missing_bids.values()).items()))})",
        f"  delivery latency (bid sent to socket): p50 {percentile(latency, .5) * 1000:.0f} ms, "
        f"p99 {percentile(latency, .99) * 1000:.0f} ms, max {max(latency or [0]):.2f} s; "
        f"max catch-up after Redis came back {max(after_back or [0]):.2f} s"
        + (f"; all in {run.delivered_by - run.ended:.2f} s after the bidding" if run.delivered_by else ""),
    ]
    partial = {i: sorted(label for label, j in missing if j == i) for i, k in missing_bids.items()
               if k % (len(run.tabs) // 2)}
    if partial:
        lines.append(f"  bids missing on only some sockets of an instance: " + "; ".join(
            f"{i} (placed on {placed_on[i].name}, sent at t={sent[i] - run.started:.2f} s): {labels[:6]}"
            for i, labels in list(partial.items())[:6]))
    print("\n".join(lines))
    with capsys.disabled():
        print("\n" + "\n".join(lines))

    assert spanning, "no bid was in flight or sent while Redis was down: the scenario tested nothing"
    assert not problems, "\n".join(problems[:20])
    # Even pub/sub delivers a bid to the sockets of the instance it was placed on.
    assert not missing_local, (
        f"{len(missing_local)} deliveries missing on the instance the bid was placed on, e.g. {missing_local[:10]}")
    marker = stored_ids[-1]
    assert all(marker in t.bid_ids() for t, _, _ in run.tabs), (
        f"the marker bid {marker}, placed after the bidding ({run.ended - run.back:.0f} s after Redis came back), "
        f"did not reach every socket within {DELIVERY_WAIT} s: "
        f"{[t.label for t, _, _ in run.tabs if marker not in t.bid_ids()][:10]}")
    if adapter == "streams":
        assert not missing, (
            f"{len(missing)} (socket, bid) deliveries missing {DELIVERY_WAIT} s after the bidding "
            f"({len(missing_bids)} bids; e.g. " + ", ".join(
                f"{i} (sent at t={sent[i] - run.started:.2f} s, placed on {placed_on[i].name}, missing on "
                f"{missing_bids[i]} sockets)" for i in sorted(missing_bids, key=int)[:8])
            + f"; Redis down from t={run.killed - run.started:.2f} to t={run.back - run.started:.2f} s)")
        assert run.delivered_by is not None
