"""A tab that reaches the cluster through the load balancer loses its instance: it shows
"reconnecting…", comes back through the balancer on the other instance, and its feed then
holds every bid placed in the meantime (from catch-up with auth.lastBidId), none twice."""

from __future__ import annotations

import signal
import time

import pytest

from browser_helpers import SioBidder, new_item, wait_until


# The sid of the page's newest Socket.IO polling request (the handshake is polling, and its
# upgrade keeps the sid), from the page's resource timing entries.
LAST_SID_JS = """
const urls = performance.getEntriesByType("resource").map((e) => e.name)
  .filter((u) => u.includes("/socket.io/") && u.includes("sid="));
return urls.length ? new URL(urls[urls.length - 1]).searchParams.get("sid") : null;
"""


def tab_instance(stack, tab):
    """The instance the tab's Socket.IO session lives on: the one its sid's tag names (each
    instance's INSTANCE_ID is its port), which is where the balancer sends that session."""
    sid = tab.driver.execute_script(LAST_SID_JS)
    assert sid and "." in sid, f"no tagged sid in the page's requests: {sid!r}"
    tag = sid.split(".", 1)[0]
    for inst in stack.instances:
        if str(inst.port) == tag:
            return inst
    raise AssertionError(f"sid {sid!r} names no instance ({[i.port for i in stack.instances]})")


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
def test_tab_behind_the_balancer_survives_the_loss_of_its_instance(stack, both_instances, users, profile, how):
    lb = stack.lb
    a, b = users["a"], users["b"]
    item = new_item(both_instances[0].url, users["seller"], starting=1000, increment=100)

    alice = profile("alice")
    alice.sign_in(lb.url, a)
    tab = alice.open_tab(f"alice-balancer-{how}", f"{lb.url}/items/{item['id']}")
    tab.wait_live()
    tab.driver.execute_script("performance.setResourceTimingBufferSize(100000)")
    # The balancer spreads sessions; the victim is whichever instance the tab's session is on.
    victim = tab_instance(stack, tab)
    survivor = next(i for i in both_instances if i is not victim)

    bidder = SioBidder(survivor.url, b, item["id"])
    try:
        first = bidder.bid(1000)
        tab.wait_feed(lambda f: [e["id"] for e in f] == [first["id"]], message="the first bid")
        tab.watch_status()

        if how == "sigkill":
            # Freeze the tab's instance first, so the bids below cannot reach the tab through it:
            # they can only come back through catch-up after the reconnect.
            victim.signal(signal.SIGSTOP)
            meanwhile = [bidder.bid(1100), bidder.bid(1200)]
            time.sleep(0.5)
            assert [e["id"] for e in tab.feed()] == [first["id"]], "a stopped instance delivered bids"
            victim.signal(signal.SIGKILL)
        else:
            victim.signal(signal.SIGTERM)
            meanwhile = [bidder.bid(1100), bidder.bid(1200)]

        wait_until(lambda: "reconnecting…" in tab.status_log(), timeout=15,
                   message=f"the tab to show 'reconnecting…' (statuses: {tab.status_log()})")
        tab.wait_live(timeout=30)
        expected = [m["id"] for m in reversed(meanwhile)] + [first["id"]]  # newest first
        feed = tab.wait_feed(lambda f: len(f) >= 3, timeout=15, message="the bids placed meanwhile")
        time.sleep(0.5)
        feed = tab.feed()
        assert [e["id"] for e in feed] == expected, feed
        assert all(e["mine"] == "false" and e["text"].startswith(f"{b.name}:") for e in feed), feed
        assert tab.text("[data-testid=current-price]") == "1,200"

        # Now on the survivor (the victim is gone): live bids keep coming, once each, both ways.
        if how == "sigterm":
            assert victim.wait_exit(20) == 0, "auction serve did not exit 0 on SIGTERM"
        assert tab_instance(stack, tab) is survivor
        later = bidder.bid(1300)
        feed = tab.wait_feed(lambda f: len(f) == 4, message="a live bid after the reconnect")
        assert feed[0]["id"] == later["id"]
        tab.bid(1400)
        feed = tab.wait_feed(lambda f: len(f) == 5, message="the tab's own bid after the reconnect")
        assert feed[0]["mine"] == "true" and feed[0]["text"].startswith("You"), feed
        ids = [e["id"] for e in feed]
        assert len(ids) == len(set(ids)), feed
        assert tab.status_log()[-1] == "live"
        tab.screenshot(f"failover-{how}-after")
    finally:
        bidder.close()
        if victim.alive():
            try:
                victim.signal(signal.SIGCONT)
            except OSError:
                pass
        # Back to two instances for the next test (the both_instances fixture waits out nginx).
        victim.stop()
        victim.start()
