"""A closing auction's herd: bids that arrive together are decided together, in arrival order,
against the committed state — one winner per price, replays answered with their first answer,
soft close computed from each accepted bid's own time, and every socket sees every accepted bid
once, in order. (Which bids share a batch is up to timing; what is checked holds for any split.)"""

from __future__ import annotations

import uuid

from service_helpers import new_item, new_user, parse_time
from support.bidding import assert_one_winner, herd

TABS = 12


def tabs(api, sio, item_id: str, users: int = 6):
    people = [new_user(api) for _ in range(users)]
    return [(sio(token=people[i % users].token).connect(item_id=item_id), people[i % users]) for i in range(TABS)], people


def test_a_herd_at_the_same_price_has_one_winner_and_the_rest_learn_the_new_minimum(api, sio):
    seller = new_user(api)
    item = new_item(api, seller, starting=500, increment=25)
    clients, _ = tabs(api, sio, item["id"])
    answers = herd([c for c, _ in clients], lambda _i, c: c.bid(item["id"], 500, timeout=20))
    winner = assert_one_winner(answers, 525)
    stored = api.get(f"/items/{item['id']}/bids").json()
    assert [b["id"] for b in stored] == [winner["id"]]
    for c, _ in clients:
        assert c.wait_bid(winner["id"]), "a tab missed the winning bid"
        assert len(c.bid_events()) == 1


def test_replays_in_one_herd_get_the_first_answer_and_store_one_bid(api, sio):
    seller, bidder = new_user(api), new_user(api)
    item = new_item(api, seller, starting=100, increment=10)
    # Eight tabs: one user's herd stays within its allowance of 10 bids at once.
    clients = [sio(token=bidder.token).connect(item_id=item["id"]) for _ in range(8)]
    client_bid_id = f"herd-{uuid.uuid4().hex[:8]}"
    answers = herd(clients, lambda i, c: c.bid(item["id"], 100 + 10 * (i % 3), client_bid_id=client_bid_id, timeout=20))
    assert all(isinstance(a, dict) and a["ok"] for a in answers), answers
    assert len({a["bid"]["id"] for a in answers}) == 1, "replays were answered with different bids"
    assert len(api.get(f"/items/{item['id']}/bids").json()) == 1
    # A replay after the herd, at any price, still gets that bid.
    again = clients[0].bid(item["id"], 999, client_bid_id=client_bid_id)
    assert again["ok"] and again["bid"]["id"] == answers[0]["bid"]["id"]


def test_rising_bids_in_a_herd_are_accepted_in_order_with_strictly_rising_prices(api, sio):
    seller = new_user(api)
    item = new_item(api, seller, starting=100, increment=1)
    clients, _ = tabs(api, sio, item["id"])
    answers = herd([c for c, _ in clients], lambda i, c: c.bid(item["id"], 100 + 5 * i, timeout=20))
    accepted = [a["bid"] for a in answers if isinstance(a, dict) and a["ok"]]
    assert accepted, answers
    stored = api.get(f"/items/{item['id']}/bids").json()
    assert sorted(b["id"] for b in accepted) == sorted(b["id"] for b in stored)
    prices = [b["price"] for b in stored]
    assert prices == sorted(prices) and len(set(prices)) == len(prices), prices
    order = [b["id"] for b in stored]
    for c, _ in clients:
        seen = [e["bid"]["id"] for e in c.wait_count("bid", len(order))]
        assert seen == order, "a tab saw the herd's bids in another order, or not all of them"
    assert api.get(f"/items/{item['id']}").json()["currentPrice"] == prices[-1]


def test_a_herd_in_the_last_seconds_extends_from_each_accepted_bids_own_time(api, sio):
    seller = new_user(api)
    item = new_item(api, seller, starting=100, increment=1, ends_in=20)   # inside the 30 s window
    clients, _ = tabs(api, sio, item["id"])
    answers = herd([c for c, _ in clients], lambda i, c: c.bid(item["id"], 100 + i, timeout=20))
    accepted = [a["bid"] for a in answers if isinstance(a, dict) and a["ok"]]
    assert accepted, answers
    ends_at = parse_time(api.get(f"/items/{item['id']}").json()["endsAt"])
    # Each accepted bid moves the end to 30 s after the time it arrived, if that is later.
    latest = max(parse_time(b["createdAt"]) for b in accepted)
    assert abs((ends_at - latest).total_seconds() - 30) < 0.01, (ends_at, latest)
    watcher = clients[0][0]
    assert watcher.wait_event("auction:extended", lambda e: parse_time(e["endsAt"]) == ends_at), "no auction:extended to the final end"
    arrivals = {parse_time(b["createdAt"]) for b in accepted}
    for extension in watcher.events("auction:extended"):
        moved_to = parse_time(extension["endsAt"])
        assert any(abs((moved_to - t).total_seconds() - 30) < 0.01 for t in arrivals), extension


def test_a_batch_whose_commit_fails_acks_nothing_ok_changes_nothing_and_the_next_batch_is_right(stack, api, sio):
    """PostgreSQL refuses the COMMIT of any transaction that stored the poisoned price (a deferred
    constraint trigger): every bid of that batch is answered UNAVAILABLE, nothing of it is stored
    or broadcast, and the bids after it are decided against the state before it."""
    seller = new_user(api)
    item = new_item(api, seller, starting=100, increment=1)
    iid = int(item["id"])
    poison = 100 + 5 * (TABS - 1)          # the herd's highest price: its batch holds others too
    name = f"poison_{uuid.uuid4().hex[:8]}"
    stack.psql(f"""
        CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.item_id = {iid} AND NEW.price = {poison} THEN
                RAISE EXCEPTION 'test: this commit fails';
            END IF;
            RETURN NULL;
        END $$;
        CREATE CONSTRAINT TRIGGER {name} AFTER INSERT ON bids DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION {name}();""")
    try:
        clients, _ = tabs(api, sio, item["id"])
        answers = herd([c for c, _ in clients], lambda i, c: c.bid(item["id"], 100 + 5 * i, timeout=20))
    finally:
        stack.psql(f"DROP TRIGGER {name} ON bids; DROP FUNCTION {name}();")
    assert all(isinstance(a, dict) for a in answers), answers
    poisoned = answers[TABS - 1]
    assert poisoned["ok"] is False and poisoned["error"]["code"] == "UNAVAILABLE", poisoned
    for a in answers:
        assert a["ok"] or a["error"]["code"] in ("UNAVAILABLE", "BID_TOO_LOW"), a

    # Stored is exactly what was acked ok; the failed batch left no bid and no price behind.
    accepted = [a["bid"] for a in answers if a["ok"]]
    stored = api.get(f"/items/{item['id']}/bids").json()
    assert sorted(b["id"] for b in stored) == sorted(b["id"] for b in accepted)
    assert poison not in [b["price"] for b in stored]
    current = api.get(f"/items/{item['id']}").json()
    expected_price = max((b["price"] for b in stored), default=None)
    assert current["currentPrice"] == (expected_price if expected_price is not None else 100)

    # Nothing of the failed batch reached any tab: every tab saw the stored bids only.
    watcher = clients[0][0]
    marker = watcher.bid(item["id"], (expected_price + 1) if expected_price is not None else 100)
    # The next batch is decided against the committed state: the lowest acceptable price wins.
    assert marker["ok"] is True, marker
    order = [b["id"] for b in stored] + [marker["bid"]["id"]]
    for c, _ in clients:
        assert c.wait_bid(marker["bid"]["id"]), "a tab missed the bid after the failed batch"
        assert [e["bid"]["id"] for e in c.bid_events()] == order
