"""Redis killed (SIGKILL) in the middle of an auction, then started again on the same port.

While it is away: no instance exits, /readyz is 503 on both with "redis":"down" (PostgreSQL
still "up"), /healthz stays 200, and bids keep getting correct acks: `ok` only for bids that are
stored, UNAVAILABLE only for bids that are not. A bid accepted then still reaches every tab on
its own instance, once and in order (an instance broadcasts to its own sockets whether or not
the PUBLISH to Redis went through); delivery across instances needs Redis and is not checked
then. After the restart both instances are ready again and cross-instance broadcasts work within
seconds: every tab on either instance gets each new bid exactly once."""

from __future__ import annotations

import time

from cluster_helpers import readyz, wait_until
from service_helpers import assert_bid_text, new_item, new_user

OUTAGE_BIDS = 6


def test_redis_killed_and_restarted_mid_auction(cluster, api, tab, one, two):
    seller = new_user(api, name="Outage Seller")
    item = new_item(api, seller, starting=100, increment=1)
    iid = item["id"]
    ann = new_user(api, name="Outage Ann")
    ben = new_user(api, name="Outage Ben")
    ann1 = tab(one, token=ann.token, label="ann@1").connect(iid)
    ann2 = tab(two, token=ann.token, label="ann@2").connect(iid, transports=["polling"])
    ben1 = tab(one, token=ben.token, label="ben@1").connect(iid, transports=["polling"])
    ben2 = tab(two, token=ben.token, label="ben@2").connect(iid)
    tabs = [ann1, ann2, ben1, ben2]
    users = {ann1: ann, ann2: ann, ben1: ben, ben2: ben}
    acks: list[tuple[str, int, dict]] = []   # (bidder's user id, price, ack)
    price = 100

    def place(t, who: str) -> dict:
        nonlocal price
        ack = t.bid_retrying(iid, price, timeout=20)
        acks.append((users[t].id, price, ack))
        if isinstance(ack, dict) and ack.get("ok"):
            price += 1
        return ack

    # Before: a bid from each instance reaches all four tabs.
    for t in (ann1, ben2):
        ack = place(t, t.label)
        assert ack.get("ok") is True, ack
        for other in tabs:
            assert other.wait_bid(ack["bid"]["id"], 5), f"{other.label} missed a bid before the outage"

    # Redis dies.
    cluster.kill_redis()
    both_down = wait_until(lambda: all(readyz(i)[0] == 503 for i in cluster.instances), timeout=15, interval=0.2)
    states = {i.name: readyz(i) for i in cluster.instances}
    assert both_down, f"/readyz must turn 503 on both instances within 15 s of Redis dying: {states}"
    for name, (status, body) in states.items():
        assert status == 503 and body is not None, (name, status, body)
        assert body.get("redis") == "down" and body.get("postgres") == "up", (name, body)
        assert body.get("status") != "ready", (name, body)
    for inst in cluster.instances:
        assert cluster_get(inst, "/healthz") == 200, f"{inst.name}: /healthz must stay 200 without Redis"

    # Bids during the outage, from both instances: each ack is ok or UNAVAILABLE, nothing else,
    # and every ack comes (no hang, no crash).
    outage_start = len(acks)
    for k in range(OUTAGE_BIDS):
        t = ann1 if k % 2 == 0 else ben2
        ack = place(t, t.label + " (outage)")
        assert isinstance(ack, dict) and (ack.get("ok") is True or ack.get("error", {}).get("code") == "UNAVAILABLE"), (
            f"bid during the Redis outage: expected ok or UNAVAILABLE, got {ack!r}")
    for inst in cluster.instances:
        assert inst.alive(), f"{inst.name} exited while Redis was down:\n{inst.log_text(4000)}"
    outage_acks = [a for _, _, a in acks[outage_start:]]
    print("acks during the outage:", [a.get("ok") or a["error"]["code"] for a in outage_acks])
    # Same-instance delivery goes on: each tab gets every bid accepted on its own instance, once,
    # in order. The last of them is the marker (one socket gets a room's events in emit order).
    by_instance = {
        one.name: ([ann1, ben1], [a["bid"]["id"] for k, a in enumerate(outage_acks) if k % 2 == 0 and a.get("ok")]),
        two.name: ([ann2, ben2], [a["bid"]["id"] for k, a in enumerate(outage_acks) if k % 2 == 1 and a.get("ok")]),
    }
    for name, (own_tabs, ids) in by_instance.items():
        for t in own_tabs:
            if ids:
                assert t.wait_bid(ids[-1], 5), f"{t.label} missed bid {ids[-1]}, accepted on its own instance {name} while Redis was down"
            events = [e for e in t.bid_events() if e["bid"]["id"] in ids]
            assert [e["bid"]["id"] for e in events] == ids, (
                f"{t.label}: bids accepted on {name} during the outage, expected each once in order: {ids}, "
                f"got {[e['bid']['id'] for e in events]}")
            for e in events:
                assert_bid_text(e, users[t].id, t.label)
        print(f"  {name}: {len(ids)} bids accepted during the outage, each on both of its tabs once")
    # Not asserted (delivery across instances needs Redis): what the other instance's tabs got.
    for t in tabs:
        other_ids = by_instance[two.name if t in (ann1, ben1) else one.name][1]
        got = [e["bid"]["id"] for e in t.bid_events() if e["bid"]["id"] in other_ids]
        print(f"  {t.label}: got {len(got)} of the {len(other_ids)} bids accepted on the other instance")

    # Redis comes back (empty: it had no persistence) on the same port.
    cluster.start_redis()
    ready = wait_until(lambda: all(readyz(i)[0] == 200 for i in cluster.instances), timeout=20, interval=0.2)
    assert ready, f"/readyz must be 200 again within 20 s of Redis returning: {[readyz(i) for i in cluster.instances]}"

    # Cross-instance delivery resumes within seconds: bid from instance 1 until instance 2's tabs
    # see one (bounded), then each further bid reaches all four tabs exactly once.
    deadline = time.monotonic() + 15
    recovered = None
    while time.monotonic() < deadline:
        ack = place(ann1, "ann@1 (after)")
        if ack.get("ok") and ben2.wait_bid(ack["bid"]["id"], 1.0) and ann2.wait_bid(ack["bid"]["id"], 1.0):
            recovered = ack["bid"]
            break
    assert recovered, "no bid from instance 1 reached instance 2 within 15 s of Redis returning"
    after = []
    for t in (ben2, ann1, ben1, ann2):
        ack = place(t, t.label + " (after)")
        assert ack.get("ok") is True, ack
        after.append(ack["bid"]["id"])
    for t in tabs:
        for bid_id in after:
            assert t.wait_bid(bid_id, 5), f"{t.label} missed a bid after Redis came back"
    # One more bid is the marker: a late second copy of any bid above would be in before it.
    marker = place(ben1, "ben@1 (marker)")
    assert marker.get("ok") is True, marker
    after.append(marker["bid"]["id"])
    for t in tabs:
        assert t.wait_bid(after[-1], 5), f"{t.label} missed the marker bid"
    for t in tabs:
        seen = [e["bid"]["id"] for e in t.bid_events()]
        tail = seen[seen.index(recovered["id"]) + 1:] if recovered["id"] in seen else seen
        assert tail == after, f"{t.label}: after recovery got {tail}, expected {after} (each once, in order)"
        assert len(seen) == len(set(seen)), f"{t.label} got a bid twice: {seen}"

    # Acks told the truth the whole time: nothing acked UNAVAILABLE is stored (a stored bid of
    # that bidder at that price that no ok ack names), and stored == acked ok, each once.
    stored = api.get(f"/items/{iid}/bids?limit=1000").json()
    ok = {a["bid"]["id"]: a["bid"] for _, _, a in acks if a.get("ok")}
    unavailable = {(who, p) for who, p, a in acks if not a.get("ok") and a["error"]["code"] == "UNAVAILABLE"}
    leaked = [b for b in stored if b["id"] not in ok and (b["bidder"]["id"], b["price"]) in unavailable]
    assert not leaked, f"bids acked UNAVAILABLE were stored: {leaked}"
    assert [b["id"] for b in stored] == sorted(ok, key=int), f"stored {stored}, acked ok {sorted(ok, key=int)}"
    for b in stored:
        assert b == ok[b["id"]], f"the stored bid must equal its ack: {b} vs {ok[b['id']]}"
    for inst in cluster.instances:
        assert inst.alive(), f"{inst.name} exited:\n{inst.log_text(4000)}"


def cluster_get(inst, path: str) -> int:
    import requests
    try:
        return requests.get(inst.url + path, timeout=5).status_code
    except requests.RequestException:
        return 0
