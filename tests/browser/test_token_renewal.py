"""A tab stays signed in for the life of its refresh token: on an instance whose access tokens
live 5 seconds, a room left open for over a minute still bids, and its feed holds every bid
placed meanwhile, once, in order — the page renewed its token a dozen times and reconnected its
socket with each one."""

from __future__ import annotations

import time

import requests

from browser_helpers import Instance, SioBidder, new_item, wait_until

ACCESS_TOKEN_TTL = 5
OPEN_FOR = 65          # seconds the room stays open before the last bid


def test_a_tab_with_five_second_tokens_still_bids_after_a_minute_with_its_feed_intact(stack, users, profile):
    short = Instance("instance-short-tokens", stack.workdir, {})
    origins = stack.origins() + [f"http://127.0.0.1:{short.port}", f"http://localhost:{short.port}"]
    short.env = dict(stack.env(), ACCESS_TOKEN_TTL=str(ACCESS_TOKEN_TTL), CORS_ORIGINS=",".join(origins))
    short.start()
    bob = None
    try:
        one = stack.instances[0]
        item = new_item(one.url, users["seller"], starting=1000, increment=100)
        alice = profile("alice-short-tokens")
        alice.sign_in(short.url, users["a"])
        tab = alice.open_tab("alice-short-tokens", f"{short.url}/items/{item['id']}")
        tab.wait_live()
        tab.bid(1000)
        tab.wait_feed(lambda f: len(f) == 1, message="Alice's first bid")

        # Bob bids from another instance now and then while Alice's tokens come and go.
        bob = SioBidder(one.url, users["b"], item["id"])
        price, placed = 1100, []
        started = time.monotonic()
        while time.monotonic() - started < OPEN_FOR:
            placed.append(bob.bid(price)["id"])
            price += 100
            time.sleep(6)

        # More than ten access-token lifetimes later, Alice's bid is accepted like the first.
        tab.bid(price)
        feed = tab.wait_feed(lambda f: len(f) == len(placed) + 2 and f[0]["mine"] == "true",
                             timeout=15, message="Alice's bid after a minute")
        assert tab.text("[data-testid=bid-error]") == "", tab.text("[data-testid=bid-error]")
        assert feed[0]["text"].startswith("You"), feed[0]

        stored = requests.get(f"{one.url}/items/{item['id']}/bids?limit=1000", timeout=10).json()
        assert [b["id"] for b in stored][1:-1] == placed
        # The feed (newest first) is every stored bid once, in order.
        assert [e["id"] for e in reversed(feed)] == [b["id"] for b in stored]
        renewals = short.log_text(2_000_000).count("path=/auth/refresh status=200")
        assert renewals >= OPEN_FOR // ACCESS_TOKEN_TTL, f"only {renewals} renewals in {OPEN_FOR} s"
    finally:
        if bob is not None:
            bob.close()
        short.stop()
