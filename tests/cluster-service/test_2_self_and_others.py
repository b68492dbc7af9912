"""Self versus others across instances: every tab of the bidder, on either instance (directly or
through nginx), gets `mine: true` (a text starting with "You"); everyone else's tabs `mine: false`
("<name>: <price>"); each tab exactly one event per accepted bid, in acceptance order."""

from __future__ import annotations

from cluster_helpers import wait_until
from service_helpers import assert_bid_text, assert_ok_ack, new_item, new_user


def test_every_tab_on_every_instance_gets_each_bid_once_with_the_right_mine(cluster, api, tab, one, two):
    ann = new_user(api, name="Ann Cluster")
    ben = new_user(api, name="Ben Cluster")
    cat = new_user(api, name="Cat Cluster")
    item = new_item(api, cat, starting=100, increment=5)
    iid = item["id"]

    # Ann: a tab on each instance (one WebSocket, one polling) and one through nginx that starts
    # with polling and upgrades to WebSocket (the upgrade must reach the polling session's
    # instance). Ben: a tab on each instance. Cat (the seller, not bidding): a tab on instance 2.
    tabs = [
        (ann, tab(one, token=ann.token, label="ann@1").connect(iid)),
        (ann, tab(two, token=ann.token, label="ann@2").connect(iid, transports=["polling"])),
        (ann, tab(cluster.lb, token=ann.token, label="ann@lb").connect(iid, transports=["polling", "websocket"])),
        (ben, tab(one, token=ben.token, label="ben@1").connect(iid, transports=["polling"])),
        (ben, tab(two, token=ben.token, label="ben@2").connect(iid)),
        (cat, tab(two, token=cat.token, label="cat@2").connect(iid)),
    ]
    by_label = {t.label: t for _, t in tabs}
    assert wait_until(lambda: by_label["ann@lb"].sio.transport() == "websocket", timeout=5), (
        "the polling -> WebSocket upgrade through nginx did not happen")

    # Alternate bidders and the instances they bid from.
    plan = [("ann@1", 100), ("ben@2", 105), ("ann@2", 110), ("ben@1", 115), ("ann@lb", 120), ("ben@2", 125),
            ("ann@2", 130)]
    accepted = []
    for label, price in plan:
        bid = assert_ok_ack(by_label[label].bid_retrying(iid, price))
        accepted.append(bid)
        # Let each bid reach every tab before the next one, so a missing one is attributed right.
        for _, t in tabs:
            assert t.wait_bid(bid["id"], timeout=5), f"{t.label} did not get bid {price} (from {label})"

    # One more bid is the marker: a second copy of any bid above would arrive before it.
    marker = assert_ok_ack(by_label["ben@1"].bid_retrying(iid, 135))
    accepted.append(marker)
    for _, t in tabs:
        assert t.wait_bid(marker["id"], timeout=5), f"{t.label} did not get the marker bid"
    ids = [b["id"] for b in accepted]
    for user, t in tabs:
        events = t.bid_events()
        assert [e["bid"]["id"] for e in events] == ids, (
            f"{t.label}: got bids {[e['bid']['price'] for e in events]}, expected {[b['price'] for b in accepted]}")
        for e in events:
            assert_bid_text(e, user.id, t.label)
    # The bids as stored are the bids as acked.
    stored = api.get(f"/items/{iid}/bids?limit=100").json()
    assert [b["id"] for b in stored] == ids


def test_a_tab_joining_on_the_other_instance_sees_the_same_state(cluster, api, tab, one, two):
    ann = new_user(api, name="Ann State")
    item = new_item(api, ann, starting=10, increment=1)
    iid = item["id"]
    bidder = new_user(api, name="Bob State")
    b = tab(one, token=bidder.token, label="bob@1").connect(iid)
    placed = [assert_ok_ack(b.bid_retrying(iid, 10 + i)) for i in range(3)]
    late = tab(two, token=ann.token, label="ann@2").connect(iid)
    state = late.events("auction:state")[0]
    assert [x["id"] for x in state["recentBids"]] == [x["id"] for x in placed]
    assert state["item"]["currentPrice"] == 12
    assert state["item"]["highestBidder"] == {"id": bidder.id, "name": bidder.name}
    assert state["you"] == {"id": ann.id, "name": ann.name}
    # And with lastBidId, only what came after it.
    since = tab(cluster.lb, token=ann.token, label="ann@lb")
    since.last_bid_id = placed[0]["id"]
    since.connect(iid)
    assert [x["id"] for x in since.events("auction:state")[0]["recentBids"]] == [x["id"] for x in placed[1:]]
