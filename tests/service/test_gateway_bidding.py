"""Realtime gateway, bidding: acks and their codes, self versus others, retries, limits,
soft close and closing."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import jwt
import pytest

from service_helpers import (assert_bid_text, assert_error_ack, assert_ok_ack, mint_token, new_item, new_user,
                             parse_time, wait_marker, wait_until)


@pytest.fixture(scope="module")
def seller(api):
    return new_user(api, name="Seller Sue")


def snapshot(api, item_id):
    item = api.get(f"/items/{item_id}")
    bids = api.get(f"/items/{item_id}/bids?limit=1000")
    assert item.status_code == 200 and bids.status_code == 200
    return item.json(), bids.json()


# --- self versus others ----------------------------------------------------------------------

def test_self_versus_others_each_socket_exactly_once(api, seller, sio):
    item = new_item(api, seller, starting=1000, increment=100)
    iid = item["id"]
    ann = new_user(api, name="Ann")
    ben = new_user(api, name="Ben")
    cat = new_user(api, name="Cat")
    ann_tab1 = sio(token=ann.token).connect(item_id=iid, transports=["websocket"])
    ann_tab2 = sio(cookie=f"access_token={ann.token}").connect(item_id=iid, transports=["polling"])
    ben_tab = sio(token=ben.token).connect(item_id=iid, transports=["polling", "websocket"])
    cat_tab = sio(token=cat.token).connect(item_id=iid, transports=["websocket"])
    everyone = {"ann1": (ann_tab1, ann), "ann2": (ann_tab2, ann), "ben": (ben_tab, ben), "cat": (cat_tab, cat)}

    b1 = assert_ok_ack(ann_tab1.bid(iid, 1000))
    b2 = assert_ok_ack(ben_tab.bid(iid, 1100))
    b3 = assert_ok_ack(ann_tab2.bid(iid, 1250))
    placed = [b1, b2, b3]
    bidders = {b1["id"]: ann, b2["id"]: ben, b3["id"]: ann}

    for b, who in ((b1, ann), (b2, ben), (b3, ann)):
        assert b["itemId"] == iid
        assert b["bidder"] == {"id": who.id, "name": who.name}

    # Cat's bid is the marker: once every socket has it, a duplicate of an earlier bid would
    # have arrived too.
    marker = assert_ok_ack(cat_tab.bid(iid, 1400))
    placed.append(marker)
    bidders[marker["id"]] = cat
    wait_marker([c for c, _ in everyone.values()], marker)
    for label, (client, user) in everyone.items():
        events = client.bid_events()
        assert [e["bid"]["id"] for e in events] == [b["id"] for b in placed], \
            f"{label} must get each bid exactly once, in order: {events}"
        for e, b in zip(events, placed):
            assert e["bid"] == b, f"{label}: the event's bid must equal the acked bid"
            assert e["bid"]["bidder"]["id"] == bidders[b["id"]].id
            assert_bid_text(e, user.id, label)
        assert client.events("auction:extended") == [], "bids far from the end must not extend"

    item_now, bids = snapshot(api, iid)
    assert [b["id"] for b in bids] == [b["id"] for b in placed]
    assert item_now["currentPrice"] == 1400
    assert item_now["highestBidder"] == {"id": cat.id, "name": "Cat"}


# --- acks and codes ------------------------------------------------------------------------------

def test_bid_too_low(api, seller, sio):
    item = new_item(api, seller, starting=500, increment=50)
    iid = item["id"]
    bidder = new_user(api)
    watcher = sio(token=seller.token).connect(item_id=iid)
    c = sio(token=bidder.token).connect(item_id=iid)
    assert_error_ack(c.bid(iid, 499), "BID_TOO_LOW")       # below the starting price
    assert_error_ack(c.bid(iid, 1), "BID_TOO_LOW")
    first = assert_ok_ack(c.bid(iid, 500))                  # exactly the starting price
    assert_error_ack(c.bid(iid, 500), "BID_TOO_LOW")       # equal to the current price
    assert_error_ack(c.bid(iid, 549), "BID_TOO_LOW")       # one below current + increment
    second = assert_ok_ack(c.bid(iid, 550))                 # exactly current + increment
    # The second accepted bid is the marker: an event for a refused bid before it would be in.
    wait_marker([watcher], second)
    assert [e["bid"]["id"] for e in watcher.bid_events()] == [first["id"], second["id"]]
    item_now, bids = snapshot(api, iid)
    assert [b["price"] for b in bids] == [500, 550]
    assert item_now["currentPrice"] == 550


INVALID_PAYLOADS = [
    ("a string", "hello"),
    ("a number", 5),
    ("a list", [1, 2]),
    ("no payload", None),
    ("empty object", {}),
    ("missing price", {"itemId": "ITEM"}),
    ("null price", {"itemId": "ITEM", "price": None}),
    ("fractional price", {"itemId": "ITEM", "price": 1500.5}),
    ("price as a string", {"itemId": "ITEM", "price": "1500"}),
    ("price as a boolean", {"itemId": "ITEM", "price": True}),
    ("price as an object", {"itemId": "ITEM", "price": {"amount": 1500}}),
    ("zero price", {"itemId": "ITEM", "price": 0}),
    ("negative price", {"itemId": "ITEM", "price": -1500}),
    ("absurd price", {"itemId": "ITEM", "price": 1e300}),
    ("missing itemId", {"price": 1500}),
    ("itemId of another auction", {"itemId": "OTHER", "price": 1500}),
    ("itemId unknown", {"itemId": "999999999", "price": 1500}),
    ("itemId malformed", {"itemId": "abc", "price": 1500}),
    ("itemId as a list", {"itemId": ["ITEM"], "price": 1500}),
    ("empty clientBidId", {"itemId": "ITEM", "price": 1500, "clientBidId": ""}),
    ("clientBidId of 65 chars", {"itemId": "ITEM", "price": 1500, "clientBidId": "c" * 65}),
    ("clientBidId as a number", {"itemId": "ITEM", "price": 1500, "clientBidId": 42}),
    ("clientBidId as an object", {"itemId": "ITEM", "price": 1500, "clientBidId": {"id": "x"}}),
]


def test_every_invalid_payload_is_refused_and_changes_nothing(api, seller, sio):
    item = new_item(api, seller, starting=1000, increment=100)
    other = new_item(api, seller)
    iid = item["id"]
    bidder = new_user(api, name="Invalid Ivan")
    watcher = sio(token=seller.token).connect(item_id=iid)
    c = sio(token=bidder.token).connect(item_id=iid)
    assert_ok_ack(c.bid(iid, 1000))
    assert watcher.wait_count("bid", 1)
    before = snapshot(api, iid)
    other_before = snapshot(api, other["id"])

    def substitute(value):
        if value == "ITEM":
            return iid
        if value == "OTHER":
            return other["id"]
        if isinstance(value, dict):
            return {k: substitute(v) for k, v in value.items()}
        if isinstance(value, list):
            return [substitute(v) for v in value]
        return value

    failures = []
    for label, payload in INVALID_PAYLOADS:
        # Pace the bids: this test is about payloads, not the rate limit.
        time.sleep(0.12)
        ack = c.bid(None, payload=substitute(payload), raw_payload=True)
        if not (isinstance(ack, dict) and ack.get("ok") is False and isinstance(ack.get("error"), dict)
                and ack["error"].get("code") == "INVALID_PAYLOAD" and ack["error"].get("message")):
            failures.append(f"{label}: {substitute(payload)!r} -> {ack!r}")
    assert not failures, "expected INVALID_PAYLOAD for:\n" + "\n".join(failures)

    # Each bid was acked after its handler was done with storage.
    assert snapshot(api, iid) == before, "invalid bids must change nothing"
    assert snapshot(api, other["id"]) == other_before
    # The socket still works afterwards, and its bid is the marker: a broadcast of any invalid
    # bid, all sent before it, would have arrived by the time it does.
    time.sleep(0.2)
    marker = assert_ok_ack(c.bid(iid, 1100))
    wait_marker([watcher, c], marker)
    for client in (watcher, c):
        assert [e["bid"]["price"] for e in client.bid_events()] == [1000, 1100], "invalid bids must not be broadcast"


def test_client_bid_id_retry_returns_the_same_bid_once(api, seller, sio):
    item = new_item(api, seller, starting=100, increment=10)
    iid = item["id"]
    bidder = new_user(api, name="Retry Rita")
    other = new_user(api, name="Other Otto")
    watcher = sio(token=seller.token).connect(item_id=iid)
    tab1 = sio(token=bidder.token).connect(item_id=iid)
    tab2 = sio(token=bidder.token).connect(item_id=iid, transports=["polling"])

    first = assert_ok_ack(tab1.bid(iid, 100, client_bid_id="rita-1"))
    again = assert_ok_ack(tab1.bid(iid, 100, client_bid_id="rita-1"))
    assert again == first, "a retry must be acked with the very same bid"
    # From the user's other tab, and even with a different price: still the first bid.
    from_tab2 = assert_ok_ack(tab2.bid(iid, 130, client_bid_id="rita-1"))
    assert from_tab2 == first
    # Another user may use the same clientBidId: it is their own bid.
    otto = assert_ok_ack(sio(token=other.token).connect(item_id=iid).bid(iid, 110, client_bid_id="rita-1"))
    assert otto["id"] != first["id"] and otto["bidder"]["id"] == other.id
    # A new clientBidId is a new bid.
    second = assert_ok_ack(tab1.bid(iid, 120, client_bid_id="rita-2"))

    # The last bid is the marker: a broadcast of a retry, sent before it, would be in by then.
    wait_marker([watcher, tab1, tab2], second)
    expected = [first["id"], otto["id"], second["id"]]
    for client in (watcher, tab1, tab2):
        assert [e["bid"]["id"] for e in client.bid_events()] == expected, "a retry must not be broadcast again"
    _, bids = snapshot(api, iid)
    assert [b["id"] for b in bids] == expected


def test_bid_rate_limit_per_user(api, seller, sio):
    item = new_item(api, seller, starting=100, increment=1)
    iid = item["id"]
    bidder = new_user(api, name="Fast Fred")
    tab1 = sio(token=bidder.token).connect(item_id=iid)
    tab2 = sio(token=bidder.token).connect(item_id=iid)
    acks: list = []
    lock = threading.Lock()
    done = threading.Event()
    total = 40

    def record(*args):
        with lock:
            acks.append(args[0] if args else None)
            if len(acks) == total:
                done.set()

    started = time.monotonic()
    for i in range(total):
        # Fast, increasing bids from two tabs of the same user: one bucket for the user.
        (tab1 if i % 2 == 0 else tab2).sio.emit("bid", {"itemId": iid, "price": 100 + i}, callback=record)
    assert done.wait(20), f"only {len(acks)} of {total} bids were acked"
    elapsed = time.monotonic() - started
    codes = [a["error"]["code"] if a.get("ok") is False else "OK" for a in acks]
    assert set(codes) <= {"OK", "BID_TOO_LOW", "RATE_LIMITED"}, codes
    limited = codes.count("RATE_LIMITED")
    assert limited >= 1, f"40 bids at once from one user must hit the limit: {codes}"
    decided = total - limited
    assert decided <= 10 + 10 * elapsed + 1, f"{decided} bids decided in {elapsed:.2f} s exceeds 10 burst + 10/s"
    for a in acks:
        if a.get("ok") is False and a["error"]["code"] == "RATE_LIMITED":
            assert a["error"]["message"]
    # Rate-limited bids recorded nothing.
    _, bids = snapshot(api, iid)
    assert len(bids) == codes.count("OK")
    # Another user is not limited by Fred's bucket.
    other = new_user(api)
    ack = sio(token=other.token).connect(item_id=iid).bid(iid, 100000)
    assert_ok_ack(ack)
    # Fred's bucket refills (10/s).
    time.sleep(1.2)
    assert_ok_ack(tab1.bid(iid, 100010))


def test_token_expired_since_connect_is_unauthorized(api, seller, sio, stack):
    item = new_item(api, seller)
    iid = item["id"]
    bidder = new_user(api, name="Short Lived")
    token = mint_token(bidder.id, exp_in=3)
    c = sio(token=token).connect(item_id=iid)
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    wait_until(lambda: time.time() > exp + 0.5, timeout=6)
    before = snapshot(api, iid)
    assert_error_ack(c.bid(iid, item["startingPrice"]), "UNAUTHORIZED")
    assert snapshot(api, iid) == before


def test_bid_on_a_deleted_item_is_item_not_found(api, seller, sio, stack):
    item = new_item(api, seller)
    iid = item["id"]
    bidder = new_user(api)
    c = sio(token=bidder.token).connect(item_id=iid)
    stack.psql(f"DELETE FROM items WHERE id = {int(iid)}")
    assert_error_ack(c.bid(iid, item["startingPrice"]), "ITEM_NOT_FOUND")


# --- soft close and closing ----------------------------------------------------------------------

def test_auction_closes_once_without_bids(api, seller, sio):
    item = new_item(api, seller, starting=700, ends_in=3)
    iid = item["id"]
    watcher = sio(token=seller.token).connect(item_id=iid)
    bidder = new_user(api)
    c = sio(token=bidder.token).connect(item_id=iid, transports=["polling"])
    closed = watcher.wait_event("auction:closed", timeout=8)
    assert closed == {"itemId": iid, "winner": None, "price": 700}, closed
    assert c.wait_event("auction:closed", timeout=3) == closed
    closed_at = time.time()
    ends_at = parse_time(item["endsAt"]).timestamp()
    assert closed_at >= ends_at - 0.5, "closed before its end"
    assert closed_at <= ends_at + 2.5, f"closed {closed_at - ends_at:.1f} s after its end (checked every 0.5 s)"
    time.sleep(2)
    assert len(watcher.events("auction:closed")) == 1 and len(c.events("auction:closed")) == 1
    got = api.get(f"/items/{iid}").json()
    assert got["status"] == "closed"
    assert got["highestBidder"] is None
    assert_error_ack(c.bid(iid, 700), "AUCTION_CLOSED")
    assert api.get(f"/items/{iid}/bids").json() == []
    # Joining a closed auction still works and shows it closed.
    late = sio(token=bidder.token).connect(item_id=iid)
    assert late.state()["item"]["status"] == "closed"


def test_soft_close_extends_then_closes_once_with_the_winner(api, seller, sio):
    item = new_item(api, seller, starting=300, increment=20, ends_in=4)
    iid = item["id"]
    winner = new_user(api, name="Winner Wes")
    loser = new_user(api, name="Loser Lou")
    watcher = sio(token=seller.token).connect(item_id=iid)
    w = sio(token=winner.token).connect(item_id=iid)
    l = sio(token=loser.token).connect(item_id=iid, transports=["polling"])

    b1 = assert_ok_ack(l.bid(iid, 300))
    ext1 = watcher.wait_event("auction:extended", lambda e: True, timeout=5)
    assert ext1 is not None, "a bid in the last 30 s must extend the auction"
    assert ext1["itemId"] == iid
    new_end = parse_time(ext1["endsAt"])
    bid_time = parse_time(b1["createdAt"])
    assert abs((new_end - bid_time).total_seconds() - 30) <= 1.0, (ext1, b1)
    assert abs(parse_time(api.get(f"/items/{iid}").json()["endsAt"]).timestamp() - new_end.timestamp()) <= 1.0

    time.sleep(1.1)
    b2 = assert_ok_ack(w.bid(iid, 320))
    ext2 = watcher.wait_event("auction:extended", lambda e: e["endsAt"] != ext1["endsAt"], timeout=5)
    assert ext2 is not None and parse_time(ext2["endsAt"]) > new_end
    for client in (w, l):
        got = client.wait_count("auction:extended", 2)
        assert got == [ext1, ext2], f"every socket of the room gets each auction:extended once: {got}"

    final_end = parse_time(ext2["endsAt"]).timestamp()
    closed = watcher.wait_event("auction:closed", timeout=max(5.0, final_end - time.time() + 5))
    assert closed == {"itemId": iid, "winner": {"id": winner.id, "name": "Winner Wes"}, "price": 320}, closed
    closed_at = time.time()
    assert closed_at >= final_end - 0.5, "closed before the extended end"
    # endsAt is shown in whole seconds, so the real end may be up to 1 s after final_end.
    assert closed_at <= final_end + 3.5, f"closed {closed_at - final_end:.1f} s after the extended end"
    for client in (w, l):
        assert client.wait_event("auction:closed", timeout=3) == closed
    time.sleep(2)
    for client in (watcher, w, l):
        assert len(client.events("auction:closed")) == 1
    assert_error_ack(l.bid(iid, 1000), "AUCTION_CLOSED")
    got = api.get(f"/items/{iid}").json()
    assert got["status"] == "closed"
    assert got["currentPrice"] == 320
    assert got["highestBidder"] == {"id": winner.id, "name": "Winner Wes"}
    assert [b["id"] for b in api.get(f"/items/{iid}/bids").json()] == [b1["id"], b2["id"]]
