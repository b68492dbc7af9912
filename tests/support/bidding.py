"""Bids from many clients at once and what must hold of them on one instance or across a
cluster: an answer per bid, one winner per price, stored bids equal to the ones acked ok, prices
strictly rising in stored order, and every socket seeing every stored bid once, in that order,
with the right `mine`. Clients are `support.recording.RecordingClient`s."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from support.waiting import WAIT


def herd(clients, bid) -> list:
    """Runs `bid(index, client)` on every client at once; returns the answers in client order."""
    answers: list = [None] * len(clients)
    start = threading.Barrier(len(clients))

    def run(index, client):
        try:
            start.wait(10)
        except threading.BrokenBarrierError:
            pass
        try:
            answers[index] = bid(index, client)
        except Exception as exc:  # noqa: BLE001 - a missing answer is a failure below
            answers[index] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return answers


def assert_ok_ack(ack: Any) -> dict:
    assert isinstance(ack, dict) and ack.get("ok") is True, f"expected an ok ack, got {ack!r}"
    return ack["bid"]


def assert_error_ack(ack: Any, code: str) -> None:
    assert isinstance(ack, dict), f"expected an error ack {code}, got {ack!r}"
    assert ack.get("ok") is False, f"expected an error ack {code}, got {ack!r}"
    assert isinstance(ack.get("error"), dict), ack
    assert ack["error"].get("code") == code, f"expected {code}, got {ack!r}"
    assert isinstance(ack["error"].get("message"), str) and ack["error"]["message"], ack


def assert_bid_text(event: dict, viewer_id: str, label: str = "") -> None:
    """`mine` and `text` as the contract has them: the bidder's own sockets get mine: true and a
    text starting with "You"; everyone else mine: false and "<bidder name>: <price>"."""
    bid = event["bid"]
    if bid["bidder"]["id"] == viewer_id:
        assert event["mine"] is True, f"{label}: own bid must be mine: true: {event}"
        assert isinstance(event["text"], str) and event["text"].startswith("You"), \
            f"{label}: own bid's text must start with 'You': {event}"
    else:
        assert event["mine"] is False, f"{label}: others' bid must be mine: false: {event}"
        assert event["text"] == f"{bid['bidder']['name']}: {bid['price']}", f"{label}: {event}"


def assert_one_winner(answers: list, next_minimum: int, labels: list[str] | None = None) -> dict:
    """The answers of a herd bidding one price: exactly one ok, every other BID_TOO_LOW naming
    the new minimum `next_minimum` (`labels` name the clients in failures); returns the winning
    bid."""
    named = [None] * len(answers) if labels is None else labels
    shown = answers if labels is None else list(zip(labels, answers))
    assert all(isinstance(a, dict) for a in answers), shown
    winners = [a for a in answers if a["ok"]]
    assert len(winners) == 1, shown
    for label, a in zip(named, answers):
        if not a["ok"]:
            assert a["error"]["code"] == "BID_TOO_LOW", (label, a)
            assert str(next_minimum) in a["error"]["message"], (label, a)
    return winners[0]["bid"]


def wait_marker(clients, bid: dict, timeout: float = WAIT) -> None:
    """Waits until every client got the `bid` event of `bid`, a bid placed after everything a test
    wants to be sure about: events of one room reach a socket in the order they were emitted, so
    whatever was emitted before the marker has arrived by then (or never will)."""
    missing = [n for n, c in enumerate(clients) if c.wait_bid(bid["id"], timeout) is None]
    assert not missing, f"clients {missing} did not get the marker bid {bid['id']} within {timeout} s"


@dataclass
class Race:
    """What the clients of `bid_race` were answered."""
    ok_bids: list[dict] = field(default_factory=list)
    codes: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def bid_race(clients, item_id: str, *, start: int, increment: int, duration: float,
             label: Callable[[Any, Any], str]) -> Race:
    """Every (client, user) of `clients` bids on the item at once for `duration` seconds, each time
    the highest price it knows of (its `bid` events, its own accepted bids) plus `increment`.
    Answers other than ok, BID_TOO_LOW and RATE_LIMITED, and bids never acked, are problems
    (named by `label(client, user)`); at least 20 bids must have been accepted."""
    race = Race()
    lock = threading.Lock()
    barrier = threading.Barrier(len(clients))

    def known_price(client) -> int | None:
        prices = [e["bid"]["price"] for e in client.bid_events()]
        return max(prices) if prices else None

    def run(client, user):
        own_highest = None
        try:
            barrier.wait(10)
        except threading.BrokenBarrierError:
            pass
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            seen = [p for p in (known_price(client), own_highest) if p is not None]
            price = max(seen) + increment if seen else start
            try:
                ack = client.bid(item_id, price, timeout=15)
            except Exception as exc:  # noqa: BLE001 - a lost ack is a failure, recorded below
                with lock:
                    race.problems.append(f"{label(client, user)}: bid {price} not acked: {exc!r}")
                return
            if isinstance(ack, dict) and ack.get("ok") is True:
                with lock:
                    race.ok_bids.append(ack["bid"])
                    race.codes["OK"] += 1
                own_highest = max(own_highest or 0, ack["bid"]["price"])
                continue
            code = ack.get("error", {}).get("code") if isinstance(ack, dict) else None
            with lock:
                race.codes[code] += 1
                if code not in ("BID_TOO_LOW", "RATE_LIMITED"):
                    race.problems.append(f"{label(client, user)}: bid {price} -> unexpected ack {ack!r}")
            if code == "RATE_LIMITED":
                time.sleep(0.03)

    threads = [threading.Thread(target=run, args=pair, daemon=True) for pair in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 40)
    assert not any(t.is_alive() for t in threads), "a bidding client did not finish"
    assert not race.problems, "\n".join(race.problems[:20])
    assert race.codes["OK"] >= 20, f"too few accepted bids to mean anything: {race.codes}"
    return race


def assert_stored_equals_acked(stored: list[dict], ok_bids: list[dict]) -> None:
    """The stored bids are the ones acked ok: same ids, nothing lost, nothing twice, each equal
    to its ack."""
    acked_ids = [b["id"] for b in ok_bids]
    assert len(acked_ids) == len(set(acked_ids)), "an id was acked ok twice"
    stored_ids = [b["id"] for b in stored]
    assert len(stored_ids) == len(set(stored_ids)), "a bid is stored twice"
    assert set(stored_ids) == set(acked_ids), (
        f"stored and acked differ: only stored {set(stored_ids) - set(acked_ids)}, "
        f"only acked {set(acked_ids) - set(stored_ids)}")
    by_id = {b["id"]: b for b in ok_bids}
    for b in stored:
        assert by_id[b["id"]] == b, "the stored bid must equal its ack"


def assert_prices_rise(stored: list[dict], start: int, increment: int) -> list[int]:
    """Ids grow in storage order, and prices, from `start` on, strictly increase along them by at
    least `increment`; returns the prices."""
    numeric = [int(b["id"]) for b in stored]
    assert numeric == sorted(numeric)
    prices = [b["price"] for b in stored]
    assert prices[0] >= start
    for a, b in zip(prices, prices[1:]):
        assert b >= a + increment, f"prices must rise by at least {increment}: {a} then {b}"
    return prices


def assert_saw_in_order(everyone, stored_ids: list[str], label: Callable[[int, Any, Any], str]) -> None:
    """Every (client, user) saw every stored bid exactly once, in stored order, with the right
    `mine` (`label(n, client, user)` names the n-th in failures)."""
    for n, (client, user) in enumerate(everyone):
        events = client.bid_events()
        seen = [e["bid"]["id"] for e in events]
        if seen != stored_ids:
            first = next((i for i, (x, y) in enumerate(zip(seen, stored_ids)) if x != y), min(len(seen), len(stored_ids)))
            missing = set(stored_ids) - set(seen)
            dupes = [i for i, k in Counter(seen).items() if k > 1]
            raise AssertionError(
                f"{label(n, client, user)} saw {len(seen)} bid events for {len(stored_ids)} stored bids; first "
                f"difference at {first}; missing {len(missing)}, duplicated {len(dupes)}")
        for e in events:
            assert_bid_text(e, user.id, label(n, client, user))
