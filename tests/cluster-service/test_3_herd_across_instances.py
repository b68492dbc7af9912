"""A closing auction's herd split over both instances: tabs on each instance bid at the same moment
on one item. Each instance batches what it receives, both batch writers share the item's
advisory lock, and each batch reads the state the other committed — so, across the cluster,
a price has one winner, every loser is told the same new minimum whichever instance it is on,
and every tab sees the accepted bids once, in the one order they were stored."""

from __future__ import annotations

from service_helpers import new_item, new_user
from support.bidding import assert_one_winner, herd

USERS = 6
START, INCREMENT = 500, 25


def test_a_herd_on_both_instances_at_once_is_decided_in_one_order(cluster, api, tab, one, two):
    seller = new_user(api, name="Herd Seller")
    item = new_item(api, seller, starting=START, increment=INCREMENT)
    iid = item["id"]
    users = [new_user(api, name=f"Herd Bidder {i}") for i in range(USERS)]
    tabs = []
    for user in users:
        tabs.append(tab(one, token=user.token, label=f"{user.name}@1").connect(iid))
        tabs.append(tab(two, token=user.token, label=f"{user.name}@2").connect(iid))

    # Twice the whole herd bids the minimum at once: one winner each time, on either instance.
    # In the second round the losers' instance must know the first round's price, whoever
    # committed it: a stale decision would accept a second bid at the old minimum.
    winners = []
    for minimum in (START, START + INCREMENT):
        answers = herd(tabs, lambda _i, t, price=minimum: t.bid(iid, price, timeout=20))
        winners.append(assert_one_winner(answers, minimum + INCREMENT, [t.label for t in tabs]))

    # Then every tab at its own price, all at once: whatever the split into batches on each
    # instance, the accepted prices rise strictly in the stored order.
    base = START + 4 * INCREMENT
    answers = herd(tabs, lambda i, t: t.bid(iid, base + INCREMENT * i, timeout=20))
    assert all(isinstance(a, dict) for a in answers), answers
    for t, a in zip(tabs, answers):
        assert a["ok"] or a["error"]["code"] == "BID_TOO_LOW", (t.label, a)
    accepted = winners + [a["bid"] for a in answers if a["ok"]]

    stored = api.get(f"/items/{iid}/bids?limit=1000").json()
    assert sorted(int(b["id"]) for b in stored) == sorted(int(b["id"]) for b in accepted), "stored differs from acked ok"
    prices = [b["price"] for b in stored]
    assert [int(b["id"]) for b in stored] == sorted(int(b["id"]) for b in stored)
    for a, b in zip(prices, prices[1:]):
        assert b >= a + INCREMENT, f"prices must rise by at least {INCREMENT} in stored order: {prices}"
    assert api.get(f"/items/{iid}").json()["currentPrice"] == prices[-1]

    order = [b["id"] for b in stored]
    for t in tabs:
        assert t.wait_bid(order[-1], 15), f"{t.label} did not get the last stored bid"
        assert [e["bid"]["id"] for e in t.bid_events()] == order, f"{t.label} saw another order"
