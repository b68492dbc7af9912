"""PostgreSQL stops in the middle of bidding (pg_ctl stop -m fast) and comes back.
Named to run last; it restarts PostgreSQL in any case."""

from __future__ import annotations

import re
import time

import requests

from service_helpers import assert_error_ack, assert_ok_ack, new_item, new_user, wait_until


def test_postgres_down_then_back(api, stack, sio):
    seller = new_user(api, name="Outage Seller")
    item = new_item(api, seller, starting=100, increment=10)
    iid = item["id"]
    bidder = new_user(api, name="Outage Olga")
    watcher_user = new_user(api, name="Outage Watcher")
    c = sio(token=bidder.token).connect(item_id=iid, transports=["websocket"])
    watcher = sio(token=watcher_user.token).connect(item_id=iid, transports=["polling"])
    first = assert_ok_ack(c.bid(iid, 100))
    assert watcher.wait_count("bid", 1)

    stack.stop_postgres()
    try:
        # Bids are refused as UNAVAILABLE, promptly.
        started = time.monotonic()
        ack = c.bid(iid, 110, timeout=20)
        elapsed = time.monotonic() - started
        assert_error_ack(ack, "UNAVAILABLE")
        assert elapsed <= 6.5, f"UNAVAILABLE took {elapsed:.1f} s"
        started = time.monotonic()
        assert_error_ack(c.bid(iid, 120, client_bid_id="outage-1", timeout=20), "UNAVAILABLE")
        assert time.monotonic() - started <= 6.5

        # Readiness says so; the process still serves.
        r = requests.get(stack.url + "/readyz", timeout=10)
        assert r.status_code == 503, r.text
        assert r.json().get("postgres") == "down", r.text
        assert r.json().get("status") != "ready"
        assert requests.get(stack.url + "/healthz", timeout=5).status_code == 200
        # A REST request answers 503 and the log says why.
        r = requests.get(stack.url + f"/items/{iid}", timeout=15)
        assert r.status_code == 503 and r.json()["error"]["code"] == "UNAVAILABLE", r.text
        log = stack.log_text(200000)
        assert re.search(r'level=error .*msg="storage unavailable".*path=/items/', log), log[-3000:]
        assert stack.alive(), "the service must keep running without PostgreSQL"
        assert c.sio.connected and watcher.sio.connected, "sockets must survive a storage outage"
    finally:
        stack.start_postgres()

    ready = wait_until(lambda: _ready(stack), timeout=30, interval=0.25)
    assert ready, "/readyz must be 200 again after PostgreSQL is back"
    # Bidding resumes on the same sockets; the failed bids recorded nothing.
    deadline = time.monotonic() + 20
    ack = None
    while time.monotonic() < deadline:
        ack = c.bid(iid, 110, timeout=15)
        if not (isinstance(ack, dict) and ack.get("ok") is False and ack["error"]["code"] == "UNAVAILABLE"):
            break
        time.sleep(0.5)
    second = assert_ok_ack(ack)
    assert second["price"] == 110
    third = assert_ok_ack(c.bid(iid, 120, client_bid_id="outage-1"))
    assert third["id"] != second["id"]
    stored = api.get(f"/items/{iid}/bids").json()
    assert [b["id"] for b in stored] == [first["id"], second["id"], third["id"]]
    assert watcher.wait_count("bid", 3)
    time.sleep(1)
    assert [e["bid"]["id"] for e in watcher.bid_events()] == [b["id"] for b in stored], \
        "a refused bid must never have been broadcast"
    # New connections work again too.
    late = sio(token=watcher_user.token).connect(item_id=iid)
    assert [b["id"] for b in late.state()["recentBids"]] == [b["id"] for b in stored]


def _ready(stack) -> bool:
    try:
        return requests.get(stack.url + "/readyz", timeout=5).status_code == 200
    except requests.RequestException:
        return False
