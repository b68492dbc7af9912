"""One instance killed with SIGKILL mid-auction (runs last: it restarts the instance afterwards,
and bids on it once more).

Clients on the other instance are unaffected: they keep bidding and keep receiving every bid,
once, in order. Clients that reached the dead instance through nginx (their requests go to the
instance their sid names; nginx answers 502 for them once it is gone) reconnect through nginx by
themselves (python-socketio's reconnection, `auth` = {itemId, lastBidId: the last bid it saw}),
land on the survivor, and their new auction:state.recentBids holds every bid placed while they
were away; with the live events before and after, they saw every stored bid exactly once."""

from __future__ import annotations

import threading
import time

from cluster_helpers import ENGINE_CLOSE, Api, wait_until
from service_helpers import assert_ok_ack, new_item, new_user


def describe(t) -> str:
    """The tab's packets in arrival order, compactly: state[ids of recentBids], bid id, close."""
    out = []
    for r in t.records():
        if r.name == "auction:state":
            out.append("state[" + ",".join(b["id"] for b in r.data["recentBids"]) + "]")
        elif r.name == "bid":
            out.append("bid " + r.data["bid"]["id"])
        else:
            out.append(r.name)
    return " | ".join(out)


def test_sigkill_of_one_instance(cluster, api, tab):
    seller = new_user(api, name="Kill Seller")
    item = new_item(api, seller, starting=1000, increment=1)
    iid = item["id"]
    ann = new_user(api, name="Kill Ann")
    ben = new_user(api, name="Kill Ben")
    cat = new_user(api, name="Kill Cat")

    # Through nginx, reconnecting by themselves. nginx spreads handshakes over the instances
    # (least connections first, so an open WebSocket-first connection pulls the next handshake to
    # the other instance): the polling tab's instance, named by its sid, is the doomed one, and
    # the WebSocket tab is reconnected until its sid names the same (a try or two).
    lb_poll = tab(cluster.lb, token=ann.token, reconnect=True, label="ann@lb/polling").connect(
        iid, transports=["polling"])
    doomed = cluster.instance_of_sid(lb_poll.sio.eio.sid)
    survivor = next(i for i in cluster.instances if i is not doomed)
    print(f"doomed {doomed.name}, survivor {survivor.name}")
    for attempt in range(6):
        lb_ws = tab(cluster.lb, token=cat.token, reconnect=True, label="cat@lb/websocket").connect(iid)
        if cluster.instance_of_sid(lb_ws.sio.eio.sid) is doomed:
            break
        lb_ws.close()
    else:
        raise AssertionError(f"6 WebSocket handshakes through nginx never reached {doomed.name}")
    # Directly on the survivor, and one directly on the doomed instance (it just goes away).
    s_ann = tab(survivor, token=ann.token, label="ann@survivor").connect(iid)
    s_ben = tab(survivor, token=ben.token, label="ben@survivor").connect(iid, transports=["polling"])
    s_seller = tab(survivor, token=seller.token, label="seller@survivor").connect(iid)
    d_ben = tab(doomed, token=ben.token, label="ben@doomed").connect(iid)
    survivors = [s_ann, s_ben, s_seller]
    lb_tabs = [lb_ws, lb_poll]

    price = [1000]
    placed: list[dict] = []
    lock = threading.Lock()

    def bid_from(t) -> dict:
        with lock:
            ack = t.bid_retrying(iid, price[0])
            bid = assert_ok_ack(ack)
            price[0] += 1
            placed.append(bid)
            return bid

    # Before: bids from the survivor and from the doomed instance reach everyone.
    for t in (s_ann, d_ben, lb_ws, s_ben):
        bid = bid_from(t)
        for other in survivors + lb_tabs + [d_ben]:
            assert other.wait_bid(bid["id"], 5), f"{other.label} missed a bid before the kill"
    seen_before = {t.label: t.last_bid_id for t in lb_tabs}

    # SIGKILL, then keep bidding on the survivor while the nginx clients find their way back.
    cluster.kill_instance(doomed)
    killed_at = time.monotonic()
    away = []
    away_acked_at = []
    deadline = time.monotonic() + 3.0
    n = 0
    while time.monotonic() < deadline:
        away.append(bid_from(s_ann if n % 2 == 0 else s_ben))
        away_acked_at.append(time.monotonic())
        n += 1
        time.sleep(0.2)
    assert len(away) >= 5

    # The clients of the dead instance: the direct one is gone, the nginx ones are back.
    assert wait_until(lambda: d_ben.disconnects >= 1, timeout=10), "the tab on the killed instance never noticed"
    for t in lb_tabs:
        back = t.wait_for(lambda x: x.connects >= 2 and len(x.events("auction:state")) >= 2, timeout=20)
        assert back, (f"{t.label} did not reconnect through nginx within 20 s (connects {t.connects}, "
                      f"disconnects {t.disconnects}, connect errors {t.connect_errors})")
        assert t.disconnects >= 1, f"{t.label} was not on the killed instance after all"
        print(f"{t.label}: back {t.auth_times[-1] - killed_at:.1f} s after the kill")
        # It asked for what it missed, from the last bid it had seen.
        assert t.auth_calls[-1] == {"itemId": iid, "lastBidId": seen_before[t.label]}, t.auth_calls
        assert cluster.instance_of_sid(t.sio.eio.sid) is survivor, f"{t.label} is back on {t.sio.eio.sid}"

    # After: more bids, from the survivor and from a reconnected nginx client.
    after = [bid_from(s_ben), bid_from(lb_poll), bid_from(s_ann), bid_from(lb_ws)]
    for t in survivors + lb_tabs:
        for bid in after:
            assert t.wait_bid(bid["id"], 5), f"{t.label} missed a bid after the kill"
    time.sleep(0.5)  # room for a duplicate to show up

    stored = [b["id"] for b in Api(survivor).get(f"/items/{iid}/bids?limit=1000").json()]
    assert stored == [b["id"] for b in placed], "stored bids differ from the acked ones"

    # The survivor's clients never noticed: every bid once, in order, no disconnect.
    for t in survivors:
        assert t.disconnects == 0 and ENGINE_CLOSE not in [r.name for r in t.records()], f"{t.label} was disconnected"
        assert [e["bid"]["id"] for e in t.bid_events()] == stored, f"{t.label}: not every bid once in order"

    # The reconnected clients. recentBids of the new auction:state is every stored bid after the
    # lastBidId it sent, contiguous, and holds at least every bid acked before it reconnected;
    # no bid came twice as a live event; and all it was shown, keyed by id, is every stored bid.
    # (A bid accepted while the new socket joins may be both in recentBids and a live event: the
    # gateway joins the room before reading the state, by design, and clients key bids by id.
    # That overlap is reported below, not failed.)
    position = {bid_id: n for n, bid_id in enumerate(stored)}
    for t in lb_tabs:
        last_seen = seen_before[t.label]
        second = t.events("auction:state")[1]
        recent = [b["id"] for b in second["recentBids"]]
        assert recent, f"{t.label}: empty recentBids after an absence with {len(away)} bids"
        expected = stored[position[last_seen] + 1:position[recent[-1]] + 1]
        assert recent == expected, f"{t.label}: recentBids {recent}, stored after {last_seen}: {expected}"
        reconnected_at = t.auth_times[-1]
        acked_before = [b["id"] for b, at in zip(away, away_acked_at) if at < reconnected_at]
        missing = [i for i in acked_before if i not in recent]
        assert not missing, f"{t.label}: bids acked before it reconnected are not in recentBids: {missing}"
        live = [e["bid"]["id"] for e in t.bid_events()]
        dupes = sorted({i for i in live if live.count(i) > 1}, key=position.get)
        assert not dupes, f"{t.label} got live bid events twice: {dupes}; received: {describe(t)}"
        shown = set(live) | set(recent)
        assert sorted(shown, key=position.get) == stored, (
            f"{t.label}: not shown {[i for i in stored if i not in shown]}; received: {describe(t)}")
        overlap = [i for i in recent if i in live]
        if overlap:
            print(f"{t.label}: bids both in the reconnect's recentBids and live events: {overlap}; "
                  f"received: {describe(t)}")

    assert survivor.alive(), f"{survivor.name} exited:\n{survivor.log_text(4000)}"

    # Put the cluster back together (bounded), for whatever runs after this — and, restarted in
    # the middle of the auction, the instance decides against what the survivor committed while
    # it was down: the last accepted price is too low, the next one wins and reaches everyone.
    cluster.start_instance(doomed)
    back = tab(doomed, token=ben.token, label="ben@restarted").connect(iid)
    last = placed[-1]["price"]
    stale = back.bid(iid, last)
    assert isinstance(stale, dict) and stale.get("ok") is False, stale
    assert stale["error"]["code"] == "BID_TOO_LOW" and str(last + 1) in stale["error"]["message"], stale
    price[0] = last + 1
    bid = bid_from(back)
    for t in survivors + [back]:
        assert t.wait_bid(bid["id"], 5), f"{t.label} missed the first bid placed on the restarted instance"
