"""Many clients on both instances bid on one item at once: no lost bid, no duplicate, strictly
rising prices, and every socket (whichever instance it is on) sees every stored bid exactly once,
in stored order, with the right `mine`. The invariants of tests/service/test_race.py, across a
cluster: accepted bids are ordered per item across instances and fanned out through Redis."""

from __future__ import annotations

import threading
import time
from collections import Counter

from service_helpers import assert_bid_text, new_item, new_user

USERS = 6
DURATION = 8.0                # seconds of bidding
START, INCREMENT = 1000, 7


def test_concurrent_bidding_across_instances_is_consistent(cluster, api, tab, one, two):
    seller = new_user(api, name="Cluster Race Seller")
    item = new_item(api, seller, starting=START, increment=INCREMENT)
    iid = item["id"]
    users = [new_user(api, name=f"Cluster Racer {i}") for i in range(USERS)]
    # Every user has a tab on each instance (so "mine" must hold across instances); two users
    # have a third tab through nginx. Transports mixed: a third of the tabs poll.
    placements = []
    for i, user in enumerate(users):
        placements += [(user, one), (user, two)]
        if i < 2:
            placements.append((user, cluster.lb))
    clients = []
    for n, (user, endpoint) in enumerate(placements):
        transports = ["polling"] if n % 3 == 0 else ["websocket"]
        t = tab(endpoint, token=user.token, label=f"{user.name}@{endpoint.name}/{transports[0]}")
        clients.append((t.connect(iid, transports=transports), user))
    assert len(clients) >= 10
    watchers = [(tab(one, token=seller.token, label="seller@1").connect(iid), seller),
                (tab(two, token=seller.token, label="seller@2").connect(iid, transports=["polling"]), seller)]

    lock = threading.Lock()
    ok_bids: list[dict] = []
    codes: Counter = Counter()
    problems: list[str] = []
    start = threading.Barrier(len(clients))

    def known_price(client) -> int | None:
        prices = [e["bid"]["price"] for e in client.bid_events()]
        return max(prices) if prices else None

    def run(client, user):
        own_highest = None
        try:
            start.wait(10)
        except threading.BrokenBarrierError:
            pass
        deadline = time.monotonic() + DURATION
        while time.monotonic() < deadline:
            seen = [p for p in (known_price(client), own_highest) if p is not None]
            price = max(seen) + INCREMENT if seen else START
            try:
                ack = client.bid(iid, price, timeout=15)
            except Exception as exc:  # noqa: BLE001 - a lost ack is a failure, recorded below
                with lock:
                    problems.append(f"{client.label}: bid {price} not acked: {exc!r}")
                return
            if isinstance(ack, dict) and ack.get("ok") is True:
                with lock:
                    ok_bids.append(ack["bid"])
                    codes["OK"] += 1
                own_highest = max(own_highest or 0, ack["bid"]["price"])
                continue
            code = ack.get("error", {}).get("code") if isinstance(ack, dict) else None
            with lock:
                codes[code] += 1
                if code not in ("BID_TOO_LOW", "RATE_LIMITED"):
                    problems.append(f"{client.label}: bid {price} -> unexpected ack {ack!r}")
            if code == "RATE_LIMITED":
                time.sleep(0.03)

    threads = [threading.Thread(target=run, args=pair, daemon=True) for pair in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DURATION + 40)
    assert not any(t.is_alive() for t in threads), "a bidding client did not finish"
    assert not problems, "\n".join(problems[:20])
    assert codes["OK"] >= 20, f"too few accepted bids to mean anything: {codes}"

    stored = api.get(f"/items/{iid}/bids?limit=1000").json()
    by_instance = Counter(c.endpoint.name for c, _ in clients)
    print(f"cluster race: {len(clients)} clients {dict(by_instance)}, acks {dict(codes)}, {len(stored)} stored bids")
    assert len(stored) < 1000, "the check below needs every bid on one page"

    # Stored == acked ok: same ids, nothing lost, nothing twice.
    acked_ids = [b["id"] for b in ok_bids]
    assert len(acked_ids) == len(set(acked_ids)), "an id was acked ok twice"
    stored_ids = [b["id"] for b in stored]
    assert len(stored_ids) == len(set(stored_ids)), "a bid is stored twice"
    assert set(stored_ids) == set(acked_ids), (
        f"stored and acked differ: only stored {set(stored_ids) - set(acked_ids)}, "
        f"only acked {set(acked_ids) - set(stored_ids)}")
    by_id = {b["id"]: b for b in ok_bids}
    for b in stored:
        assert by_id[b["id"]] == b, "the stored bid must equal its ack"

    # Ids grow in storage order; prices strictly increase along them by at least the increment.
    numeric = [int(i) for i in stored_ids]
    assert numeric == sorted(numeric)
    prices = [b["price"] for b in stored]
    assert prices[0] >= START
    for a, b in zip(prices, prices[1:]):
        assert b >= a + INCREMENT, f"prices must rise by at least {INCREMENT}: {a} then {b}"
    final = api.get(f"/items/{iid}").json()
    assert final["currentPrice"] == prices[-1]
    assert final["highestBidder"] == stored[-1]["bidder"]

    # Every socket, on either instance, saw every stored bid exactly once, in stored order. The
    # seller's bid after all of them is the marker: a late duplicate would be in before it.
    everyone = clients + watchers
    marker = watchers[0][0].bid_retrying(iid, prices[-1] + INCREMENT)
    assert isinstance(marker, dict) and marker.get("ok") is True, marker
    for client, _ in everyone:
        assert client.wait_bid(marker["bid"]["id"], 15), f"{client.label} did not get the marker bid"
    stored_ids = stored_ids + [marker["bid"]["id"]]
    for client, user in everyone:
        events = client.bid_events()
        seen = [e["bid"]["id"] for e in events]
        if seen != stored_ids:
            first = next((i for i, (x, y) in enumerate(zip(seen, stored_ids)) if x != y), min(len(seen), len(stored_ids)))
            missing = set(stored_ids) - set(seen)
            dupes = [i for i, n in Counter(seen).items() if n > 1]
            raise AssertionError(
                f"{client.label} saw {len(seen)} bid events for {len(stored_ids)} stored bids; first difference at "
                f"{first}; missing {len(missing)}, duplicated {len(dupes)}")
        for e in events:
            assert_bid_text(e, user.id, client.label)
