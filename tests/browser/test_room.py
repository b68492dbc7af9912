"""The auction room with two users in two browser profiles: Alice with one tab on each
instance, Bob with one tab. Self versus others in every tab, whichever instance it is on;
rejected bids show their error and add nothing; soft close and close reach the page."""

from __future__ import annotations

import re
import time

from browser_helpers import new_item, wait_until


def room_url(base: str, item: dict) -> str:
    return f"{base}/items/{item['id']}"


def test_bids_show_as_mine_or_theirs_in_every_tab_on_both_instances(both_instances, users, profile):
    one, two = both_instances
    a, b = users["a"], users["b"]
    item = new_item(one.url, users["seller"], starting=1000, increment=250, title="Walnut mechanical keyboard",
                    description="Tactile switches, walnut case, barely used.")

    alice, bob = profile("alice"), profile("bob")
    alice.sign_in(one.url, a)
    alice.sign_in(two.url, a)
    bob.sign_in(two.url, b)
    a1 = alice.open_tab("alice-instance-1", room_url(one.url, item))
    a2 = alice.open_tab("alice-instance-2", room_url(two.url, item))
    b2 = bob.open_tab("bob-instance-2", room_url(two.url, item))
    tabs = (a1, a2, b2)
    for tab in tabs:
        tab.wait_live()
        wait_until(lambda: tab.text("[data-testid=item-title]") == item["title"], message=f"the title in {tab.label}")
        assert tab.feed() == []
        assert tab.text("[data-testid=current-price]") == "1,000"
        assert tab.text("[data-testid=min-bid]") == "Minimum bid: 1,000"
        assert re.fullmatch(r"(\d+:)?\d\d:\d\d", tab.text("[data-testid=countdown]")), tab.text("[data-testid=countdown]")

    # Alice bids in her tab on instance 1.
    a1.bid(1000)
    for tab in (a1, a2):
        feed = tab.wait_feed(lambda f: len(f) == 1, message=f"Alice's bid in {tab.label}")
        assert feed[0]["mine"] == "true" and feed[0]["text"].startswith("You"), (tab.label, feed)
    feed = b2.wait_feed(lambda f: len(f) == 1, message="Alice's bid in Bob's tab")
    assert feed[0]["mine"] == "false", feed
    assert feed[0]["text"].startswith(f"{a.name}:") and "1000" in feed[0]["text"], feed
    first_id = feed[0]["id"]
    assert all(t.feed()[0]["id"] == first_id for t in tabs)

    # Bob answers from instance 2.
    b2.bid(1250)
    feed = b2.wait_feed(lambda f: len(f) == 2, message="Bob's bid in his tab")
    assert feed[0]["mine"] == "true" and feed[0]["text"].startswith("You"), feed
    for tab in (a1, a2):
        feed = tab.wait_feed(lambda f: len(f) == 2, message=f"Bob's bid in {tab.label}")
        assert feed[0]["mine"] == "false" and feed[0]["text"].startswith(f"{b.name}:") and "1250" in feed[0]["text"], feed
        assert feed[1]["id"] == first_id and feed[1]["mine"] == "true"
    for tab in tabs:
        wait_until(lambda: tab.text("[data-testid=current-price]") == "1,250", message=f"the price in {tab.label}")
        assert b.name in tab.text("[data-testid=highest-bidder]")
        assert tab.text("[data-testid=min-bid]") == "Minimum bid: 1,500"
        assert not tab.find("[data-testid=bid-error]").is_displayed()

    # Too low (1,500 is the least that counts now): an error in that tab, nothing in any feed.
    a2.bid(1300)
    error = a2.find("[data-testid=bid-error]")
    wait_until(lambda: error.is_displayed() and error.text.strip(), message="the bid error in Alice's tab")
    assert error.get_attribute("data-code") == "BID_TOO_LOW", error.get_attribute("data-code")
    time.sleep(1.0)
    for tab in tabs:
        feed = tab.feed()
        assert len(feed) == 2, (tab.label, feed)
        assert len({e["id"] for e in feed}) == 2
        assert tab.text("[data-testid=current-price]") == "1,250"
    assert not a1.find("[data-testid=bid-error]").is_displayed()

    # A good bid after the error clears it.
    a2.bid(1500)
    wait_until(lambda: not error.is_displayed(), message="the error to go away")
    for tab in tabs:
        feed = tab.wait_feed(lambda f: len(f) == 3, message=f"the third bid in {tab.label}")
        assert feed[0]["mine"] == ("true" if tab in (a1, a2) else "false"), (tab.label, feed)

    for tab in tabs:
        tab.screenshot(f"room-{tab.label}")
    # Bob's tab at desktop width too (the README's picture of the room).
    b2.driver.set_window_size(1000, 860)
    time.sleep(0.3)
    b2.screenshot("room-desktop-bob")

    # Nothing went wrong on the pages (a signed-out /auth/me answers 401; that is expected).
    for p in (alice, bob):
        errors = [e for e in p.console() if e.get("level") == "SEVERE" and "/auth/me" not in e.get("message", "")]
        assert errors == [], errors


def test_soft_close_and_close_reach_the_page(both_instances, users, profile):
    one, two = both_instances
    a, b = users["a"], users["b"]
    item = new_item(one.url, users["seller"], starting=500, increment=50, ends_in=8)
    alice, bob = profile("alice"), profile("bob")
    alice.sign_in(one.url, a)
    bob.sign_in(two.url, b)
    a1 = alice.open_tab("alice-closing", room_url(one.url, item))
    b2 = bob.open_tab("bob-closing", room_url(two.url, item))
    for tab in (a1, b2):
        tab.wait_live()

    # A bid in the last 30 s pushes the end to 30 s after it: every tab's countdown follows.
    a1.bid(500)
    for tab in (a1, b2):
        tab.wait_feed(lambda f: len(f) == 1)
        wait_until(lambda: tab.find("[data-testid=auction-notice]").is_displayed(), message=f"the extension notice in {tab.label}")
        assert "extended" in tab.text("[data-testid=auction-notice]")

    def seconds_left(tab) -> int:
        m = re.fullmatch(r"(\d\d):(\d\d)", tab.text("[data-testid=countdown]"))
        return int(m.group(1)) * 60 + int(m.group(2)) if m else -1

    for tab in (a1, b2):
        wait_until(lambda: 20 <= seconds_left(tab) <= 30, message=f"about 30 s left in {tab.label}")
        wait_until(lambda: tab.find("[data-testid=countdown]").get_attribute("data-state") == "ending",
                   message=f"the countdown of {tab.label} marked as ending")

    # Then it closes (once): the winner shows, bidding stops.
    for tab in (a1, b2):
        wait_until(lambda: tab.text("[data-testid=countdown]") == "closed", timeout=45,
                   message=f"the close in {tab.label}")
        assert f"{a.name} won at 500" in tab.text("[data-testid=auction-notice]")
        assert not tab.find("#bid-form input[name=price]").is_enabled()
        assert len(tab.feed()) == 1
    b2.screenshot("room-closed-bob")
