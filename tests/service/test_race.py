"""Many clients bid on one item at once: no lost bid, no duplicate, strictly rising prices, and
every socket sees every stored bid exactly once, in stored order."""

from __future__ import annotations

import threading
import time
from collections import Counter

from service_helpers import assert_bid_text, assert_ok_ack, new_item, new_user, wait_marker

USERS = 6
SOCKETS_PER_USER = 2          # 12 clients
DURATION = 6.0                # seconds of bidding
START, INCREMENT = 1000, 7


def test_concurrent_bidding_is_consistent(api, sio):
    seller = new_user(api, name="Race Seller")
    item = new_item(api, seller, starting=START, increment=INCREMENT)
    iid = item["id"]
    users = [new_user(api, name=f"Racer {i}") for i in range(USERS)]
    clients = []
    for i in range(USERS * SOCKETS_PER_USER):
        user = users[i % USERS]
        transports = ["websocket"] if i % 3 else ["polling"]
        clients.append((sio(token=user.token).connect(item_id=iid, transports=transports), user))
    watcher = sio(token=seller.token).connect(item_id=iid)

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
                    problems.append(f"{user.name}: bid {price} not acked: {exc!r}")
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
                    problems.append(f"{user.name}: bid {price} -> unexpected ack {ack!r}")
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
    print(f"race: {len(clients)} clients, acks {dict(codes)}, {len(stored)} stored bids")
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

    # Ids grow in storage order, and prices strictly increase along them by at least the increment.
    numeric = [int(i) for i in stored_ids]
    assert numeric == sorted(numeric)
    prices = [b["price"] for b in stored]
    assert prices[0] >= START
    for a, b in zip(prices, prices[1:]):
        assert b >= a + INCREMENT, f"prices must rise by at least {INCREMENT}: {a} then {b}"

    final = api.get(f"/items/{iid}").json()
    assert final["currentPrice"] == prices[-1]
    assert final["highestBidder"] == stored[-1]["bidder"]

    # Every socket saw every stored bid exactly once, in stored order, with the right "mine".
    # The seller's bid, after all of them, is the marker: a late duplicate would be in before it.
    everyone = clients + [(watcher, seller)]
    marker = assert_ok_ack(watcher.bid_retrying(iid, prices[-1] + INCREMENT))
    wait_marker([c for c, _ in everyone], marker, timeout=15)
    stored_ids = stored_ids + [marker["id"]]
    for n, (client, user) in enumerate(everyone):
        events = client.bid_events()
        seen = [e["bid"]["id"] for e in events]
        assert seen == stored_ids, (
            f"socket {n} ({user.name}) saw {len(seen)} bid events for {len(stored_ids)} stored bids; "
            f"first difference at {next((i for i, (x, y) in enumerate(zip(seen, stored_ids)) if x != y), min(len(seen), len(stored_ids)))}")
        for e in events:
            assert_bid_text(e, user.id, f"socket {n} ({user.name})")
