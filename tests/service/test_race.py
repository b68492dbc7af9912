"""Many clients bid on one item at once: no lost bid, no duplicate, strictly rising prices, and
every socket sees every stored bid exactly once, in stored order."""

from __future__ import annotations

from service_helpers import new_item, new_user
from support.bidding import (assert_ok_ack, assert_prices_rise, assert_saw_in_order, assert_stored_equals_acked,
                             bid_race, wait_marker)

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

    race = bid_race(clients, iid, start=START, increment=INCREMENT, duration=DURATION,
                    label=lambda _client, user: user.name)

    stored = api.get(f"/items/{iid}/bids?limit=1000").json()
    print(f"race: {len(clients)} clients, acks {dict(race.codes)}, {len(stored)} stored bids")
    assert len(stored) < 1000, "the check below needs every bid on one page"
    assert_stored_equals_acked(stored, race.ok_bids)
    prices = assert_prices_rise(stored, START, INCREMENT)

    final = api.get(f"/items/{iid}").json()
    assert final["currentPrice"] == prices[-1]
    assert final["highestBidder"] == stored[-1]["bidder"]

    # Every socket saw every stored bid exactly once, in stored order, with the right "mine".
    # The seller's bid, after all of them, is the marker: a late duplicate would be in before it.
    everyone = clients + [(watcher, seller)]
    marker = assert_ok_ack(watcher.bid_retrying(iid, prices[-1] + INCREMENT))
    wait_marker([c for c, _ in everyone], marker, timeout=15)
    assert_saw_in_order(everyone, [b["id"] for b in stored] + [marker["id"]],
                        label=lambda n, _client, user: f"socket {n} ({user.name})")
