"""The start page and the room page as a new visitor meets them: register, the list of
auctions, starting an auction, the room's countdown, signing out and in again, phone width."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import requests

from browser_helpers import PASSWORD, wait_until


def no_horizontal_scroll(tab) -> bool:
    return tab.driver.execute_script(
        "return document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def countdown_seconds(text: str) -> int:
    m = re.fullmatch(r"(?:(\d+):)?(\d\d):(\d\d)", text)
    assert m, f"not a countdown: {text!r}"
    h, mm, ss = (int(g) if g else 0 for g in m.groups())
    return h * 3600 + mm * 60 + ss


def test_register_start_an_auction_sign_out_and_back_in(stack, both_instances, profile):
    one = both_instances[0]
    name = f"Carol {uuid.uuid4().hex[:4]}"
    email = f"carol-{uuid.uuid4().hex[:10]}@browser-test.example"
    carol = profile("carol")
    tab = carol.open_tab("carol", one.url + "/")

    # A new visitor: sign-in and register forms, no form to start an auction.
    wait_until(lambda: tab.text("[data-testid=whoami]") == "Not signed in", message="the signed-out header")
    assert tab.find("#signin-form input[name=email]").is_displayed()
    assert tab.find("#signin-form input[name=password]").is_displayed()
    assert tab.find("#signin-form button[type=submit]").is_displayed()
    assert not tab.find("[data-testid=create]").is_displayed()
    # Every field has a label.
    unlabelled = tab.driver.execute_script("""
        return Array.from(document.querySelectorAll('input, textarea'))
          .filter(i => !i.labels || i.labels.length === 0).map(i => i.id || i.name);""")
    assert unlabelled == [], unlabelled

    # The seeded auctions are listed, each a link to its room.
    wait_until(lambda: tab.driver.find_elements("css selector", "[data-testid=auction-list] a"), message="the list")
    hrefs = [a.get_attribute("href") for a in tab.driver.find_elements("css selector", "[data-testid=auction-list] a")]
    assert all(re.fullmatch(re.escape(one.url) + r"/items/[^/]+", h) for h in hrefs), hrefs

    # Wrong password: an error, still signed out.
    form = tab.find("#signin-form")
    form.find_element("css selector", "input[name=email]").send_keys("nobody@browser-test.example")
    form.find_element("css selector", "input[name=password]").send_keys("wrong password")
    form.find_element("css selector", "button[type=submit]").click()
    error = tab.find("[data-testid=signin-error]")
    wait_until(lambda: error.is_displayed() and error.text, message="the sign-in error")

    # Register (which signs in).
    form = tab.find("#register-form")
    form.find_element("css selector", "input[name=name]").send_keys(name)
    form.find_element("css selector", "input[name=email]").send_keys(email)
    form.find_element("css selector", "input[name=password]").send_keys(PASSWORD)
    form.find_element("css selector", "button[type=submit]").click()
    wait_until(lambda: tab.text("[data-testid=whoami]") == f"Signed in as {name}", message="signed in after registering")
    assert tab.find("[data-testid=create]").is_displayed()
    assert not tab.find("#signin-form").is_displayed()
    assert no_horizontal_scroll(tab)

    # Start an auction that runs 30 minutes.
    title = f"Teapot {uuid.uuid4().hex[:6]}"
    form = tab.find("#create-form")
    form.find_element("css selector", "input[name=title]").send_keys(title)
    form.find_element("css selector", "textarea[name=description]").send_keys("Blue, 1.2 l, no chips.")
    for field, value in (("startingPrice", "1234567"), ("minIncrement", "500"), ("durationMinutes", "30")):
        element = form.find_element("css selector", f"input[name={field}]")
        element.clear()
        element.send_keys(value)
    form.find_element("css selector", "button[type=submit]").click()
    wait_until(lambda: re.search(r"/items/[^/]+$", tab.driver.current_url), message="the room of the new auction")
    item_id = tab.driver.current_url.rsplit("/", 1)[1]
    item = requests.get(f"{one.url}/items/{item_id}", headers={"Accept": "application/json"}, timeout=10).json()
    assert item["title"] == title and item["startingPrice"] == 1234567 and item["minIncrement"] == 500
    ends_in = (datetime.fromisoformat(item["endsAt"].replace("Z", "+00:00")) - datetime.now(timezone.utc)).total_seconds()
    assert 1780 <= ends_in <= 1802, ends_in

    # The room: title, price with separators, a countdown that runs on the server's clock.
    tab.wait_live()
    wait_until(lambda: tab.text("[data-testid=item-title]") == title, message="the title")
    assert tab.text("[data-testid=current-price]") == "1,234,567"
    assert tab.text("[data-testid=highest-bidder]") == "no bids yet"
    assert tab.text("[data-testid=min-bid]") == "Minimum bid: 1,234,567"
    first = countdown_seconds(tab.text("[data-testid=countdown]"))
    assert 1770 <= first <= 1800, first
    time.sleep(2.2)
    second = countdown_seconds(tab.text("[data-testid=countdown]"))
    assert 1 <= first - second <= 6, (first, second)
    assert no_horizontal_scroll(tab)
    tab.screenshot("room-new-auction")

    # Back on the list, the new auction is there.
    tab.driver.get(one.url + "/")
    wait_until(lambda: tab.driver.find_elements("css selector", f"[data-testid=auction-list] a[href='/items/{item_id}']"),
               message="the new auction in the list")
    tab.screenshot("index-signed-in")

    # Sign out: the forms are back, and the room asks to sign in.
    tab.find("[data-testid=sign-out]").click()
    wait_until(lambda: tab.text("[data-testid=whoami]") == "Not signed in", message="signed out")
    assert tab.find("#signin-form").is_displayed()
    tab.driver.get(f"{one.url}/items/{item_id}")
    wait_until(lambda: tab.find("[data-testid=signin-needed]").is_displayed(), message="the sign-in prompt in the room")
    assert tab.status() == "signed out"
    wait_until(lambda: tab.text("[data-testid=item-title]") == title, message="the title for a signed-out visitor")

    # Sign in from there: back to the room, live.
    tab.find("[data-testid=signin-link]").click()
    wait_until(lambda: "next=" in tab.driver.current_url, message="the start page with next=")
    form = tab.find("#signin-form")
    form.find_element("css selector", "input[name=email]").send_keys(email)
    form.find_element("css selector", "input[name=password]").send_keys(PASSWORD)
    form.find_element("css selector", "button[type=submit]").click()
    wait_until(lambda: tab.driver.current_url.endswith(f"/items/{item_id}"), message="back in the room")
    tab.wait_live()


def test_unknown_auction_says_so(stack, both_instances, users, profile):
    alice = profile("alice")
    alice.sign_in(both_instances[0].url, users["a"])
    tab = alice.open_tab("alice-unknown", both_instances[0].url + "/items/999999999")
    wait_until(lambda: tab.text("[data-testid=item-title]") == "No such auction", message="the not-found title")
    assert tab.status() == "offline"


def test_pages_load_the_local_socketio_client(stack, both_instances):
    """With SOCKETIO_CLIENT_JS set, both pages load the official client from the instance
    itself (the file scripts/socketio-client.sh pins), and every static asset is served."""
    import hashlib

    pinned = re.search(r"^SHA256=([0-9a-f]{64})$", (Path(__file__).resolve().parents[2] / "scripts/socketio-client.sh")
                       .read_text(), re.M).group(1)
    for inst in both_instances:
        for path in ("/", "/items/1"):
            html = requests.get(inst.url + path, headers={"Accept": "text/html"}, timeout=10)
            assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html"), (path, html.status_code)
            assert '<script src="/socket.io/socket.io.min.js"></script>' in html.text
            assert "<!--SOCKETIO_CLIENT-->" not in html.text
            for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html.text):
                r = requests.get(inst.url + asset, timeout=10)
                assert r.status_code == 200, asset
        js = requests.get(inst.url + "/socket.io/socket.io.min.js", timeout=10)
        assert js.status_code == 200
        assert "javascript" in js.headers["Content-Type"]
        assert hashlib.sha256(js.content).hexdigest() == pinned
        assert js.content.startswith(b"/*!\n * Socket.IO v4.8.1")
