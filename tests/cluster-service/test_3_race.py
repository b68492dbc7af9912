"""Many clients on both instances bid on one item at once: no lost bid, no duplicate, strictly
rising prices, and every socket (whichever instance it is on) sees every stored bid exactly once,
in stored order, with the right `mine`. The invariants of tests/service/test_race.py, across a
cluster: accepted bids are ordered per item across instances and fanned out through Redis."""

from __future__ import annotations

from collections import Counter

from service_helpers import new_item, new_user
from support.bidding import (assert_ok_ack, assert_prices_rise, assert_saw_in_order, assert_stored_equals_acked,
                             bid_race, wait_marker)

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

    race = bid_race(clients, iid, start=START, increment=INCREMENT, duration=DURATION,
                    label=lambda client, _user: client.label)

    stored = api.get(f"/items/{iid}/bids?limit=1000").json()
    by_instance = Counter(c.endpoint.name for c, _ in clients)
    print(f"cluster race: {len(clients)} clients {dict(by_instance)}, acks {dict(race.codes)}, {len(stored)} stored bids")
    assert len(stored) < 1000, "the check below needs every bid on one page"
    assert_stored_equals_acked(stored, race.ok_bids)
    prices = assert_prices_rise(stored, START, INCREMENT)
    final = api.get(f"/items/{iid}").json()
    assert final["currentPrice"] == prices[-1]
    assert final["highestBidder"] == stored[-1]["bidder"]

    # Every socket, on either instance, saw every stored bid exactly once, in stored order. The
    # seller's bid after all of them is the marker: a late duplicate would be in before it.
    everyone = clients + watchers
    marker = assert_ok_ack(watchers[0][0].bid_retrying(iid, prices[-1] + INCREMENT))
    wait_marker([c for c, _ in everyone], marker, timeout=15)
    assert_saw_in_order(everyone, [b["id"] for b in stored] + [marker["id"]],
                        label=lambda _n, client, _user: client.label)
