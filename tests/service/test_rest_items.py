"""REST: /items, /items/{id}, /items/{id}/bids; health, readiness, metrics, unknown routes, CORS."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest

from service_helpers import (ALLOWED_FOREIGN_ORIGIN, assert_error, assert_ok_ack, new_item, new_user, now_utc,
                             parse_time, rfc3339, wait_until)

ITEM_KEYS = {"id", "roomId", "title", "description", "startingPrice", "minIncrement", "currentPrice",
             "highestBidder", "endsAt", "status", "sellerId"}
BID_KEYS = {"id", "itemId", "price", "bidder", "createdAt"}


@pytest.fixture(scope="module")
def seller(api):
    return new_user(api, name="Seller Sam")


def item_body(**overrides):
    body = {
        "title": "A lamp",
        "description": "Brass, works.",
        "startingPrice": 1000,
        "minIncrement": 50,
        "endsAt": rfc3339(now_utc() + timedelta(hours=1)),
    }
    body.update(overrides)
    return body


# --- POST /items ------------------------------------------------------------------------------

def test_create_item_returns_201_and_the_item(api, seller):
    ends_at = rfc3339(now_utc() + timedelta(hours=2))
    r = api.post("/items", json=item_body(title="Lamp", endsAt=ends_at), token=seller.token)
    assert r.status_code == 201, r.text
    item = r.json()
    assert set(item) == ITEM_KEYS
    assert isinstance(item["id"], str) and re.fullmatch(r"[0-9]+", item["id"]), item["id"]
    assert isinstance(item["roomId"], str) and item["roomId"]
    assert item["title"] == "Lamp"
    assert item["description"] == "Brass, works."
    assert item["startingPrice"] == 1000 and item["minIncrement"] == 50
    assert item["currentPrice"] == 1000
    assert item["highestBidder"] is None
    assert parse_time(item["endsAt"]) == parse_time(ends_at)
    assert item["status"] == "open"
    assert item["sellerId"] == seller.id
    # It can be read back, identically.
    got = api.get(f"/items/{item['id']}")
    assert got.status_code == 200 and got.json() == item


def test_create_item_with_the_cookie(api, seller):
    r = api.post("/items", json=item_body(title="Cookie lamp"), cookie=f"access_token={seller.token}")
    assert r.status_code == 201, r.text
    assert r.json()["sellerId"] == seller.id


def test_create_item_requires_sign_in(api):
    assert_error(api.post("/items", json=item_body()), 401, "UNAUTHORIZED")
    assert_error(api.post("/items", json=item_body(), token="not.a.token"), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("overrides, why", [
    ({"title": ""}, "empty title"),
    ({"title": "   "}, "blank title"),
    ({"title": "t" * 201}, "title of 201 characters"),
    ({"description": "d" * 5001}, "description of 5001 characters"),
    ({"startingPrice": 0}, "starting price 0"),
    ({"startingPrice": -5}, "negative starting price"),
    ({"startingPrice": 10.5}, "fractional starting price"),
    ({"startingPrice": "100"}, "starting price as a string"),
    ({"minIncrement": 0}, "increment 0"),
    ({"minIncrement": 2.5}, "fractional increment"),
    ({"endsAt": "tomorrow"}, "endsAt not a time"),
    ({"endsAt": 1893456000}, "endsAt as a number"),
    ({"endsAt": "PAST"}, "endsAt in the past"),
    ({"endsAt": "FAR"}, "endsAt more than a year ahead"),
    ({"title": None}, "null title"),
])
def test_create_item_validation_is_400_invalid_input(api, seller, overrides, why):
    body = item_body(**overrides)
    if body["endsAt"] == "PAST":
        body["endsAt"] = rfc3339(now_utc() - timedelta(minutes=1))
    if body["endsAt"] == "FAR":
        body["endsAt"] = rfc3339(now_utc() + timedelta(days=367))
    before = len(api.get("/items?limit=1000").json())
    r = api.post("/items", json=body, token=seller.token)
    assert_error(r, 400, "INVALID_INPUT")
    assert len(api.get("/items?limit=1000").json()) == before, "a refused item must not be stored"


@pytest.mark.parametrize("missing", ["title", "startingPrice", "minIncrement", "endsAt"])
def test_create_item_missing_field_is_400(api, seller, missing):
    body = item_body()
    del body[missing]
    assert_error(api.post("/items", json=body, token=seller.token), 400, "INVALID_INPUT")


def test_create_item_malformed_json_is_400(api, seller):
    r = api.post("/items", data="{title:", headers={"Content-Type": "application/json"}, token=seller.token)
    assert_error(r, 400, "INVALID_INPUT")


def test_create_item_accepts_the_limits(api, seller):
    r = api.post("/items", json=item_body(title="t" * 200, description="d" * 5000, startingPrice=1, minIncrement=1,
                                          endsAt=rfc3339(now_utc() + timedelta(days=364))), token=seller.token)
    assert r.status_code == 201, r.text
    assert r.json()["title"] == "t" * 200


def test_create_item_accepts_rfc3339_with_fraction_and_offset(api, seller):
    """RFC 3339 allows fractional seconds and numeric offsets; both name the same instant."""
    moment = (now_utc() + timedelta(hours=3)).replace(microsecond=250000)
    with_fraction = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    r = api.post("/items", json=item_body(endsAt=with_fraction), token=seller.token)
    assert r.status_code == 201, f"endsAt={with_fraction!r}: {r.status_code} {r.text}"
    assert abs((parse_time(r.json()["endsAt"]) - moment).total_seconds()) < 1

    from datetime import timezone
    offset = timezone(timedelta(hours=2))
    local = (now_utc() + timedelta(hours=3)).replace(microsecond=0).astimezone(offset)
    r = api.post("/items", json=item_body(endsAt=local.isoformat()), token=seller.token)
    assert r.status_code == 201, f"endsAt={local.isoformat()!r}: {r.status_code} {r.text}"
    assert parse_time(r.json()["endsAt"]) == local


def test_create_item_body_over_64_kib_is_413(api, seller):
    r = api.post("/items", json=item_body(description="d" * (70 * 1024)), token=seller.token)
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")


# --- GET /items, /items/{id} ------------------------------------------------------------------

def test_list_items_open_first_and_limit(api, seller, sio):
    short = new_item(api, seller, ends_in=2)
    opened = new_item(api, seller, ends_in=3600)
    # Wait (bounded) until the short one is closed by the service.
    closed = wait_until(lambda: api.get(f"/items/{short['id']}").json()["status"] == "closed", timeout=10)
    assert closed, "an auction past its end must be closed within seconds"

    r = api.get("/items?limit=1000")
    assert r.status_code == 200
    items = r.json()
    assert isinstance(items, list)
    for it in items:
        assert set(it) == ITEM_KEYS
    ids = [it["id"] for it in items]
    assert opened["id"] in ids and short["id"] in ids
    statuses = [it["status"] for it in items]
    first_closed = statuses.index("closed")
    assert all(s == "closed" for s in statuses[first_closed:]), "open auctions must come first"

    one = api.get("/items?limit=1")
    assert one.status_code == 200 and len(one.json()) == 1
    assert one.json()[0]["status"] == "open"


BULK = 1050  # rows beyond the cap of 1000


def test_list_routes_default_to_100_and_give_at_most_1000(api, stack, seller):
    """`limit` defaults to 100 and is at most 1000 (a larger one is capped, not refused), on both
    list routes, with more than 1000 rows there: 1,050 closed auctions that ended long ago (so
    they list after every other) and one auction with 1,050 bids, written straight into the
    throwaway PostgreSQL and deleted afterwards."""
    bidder = new_user(api, name="Bulk Bidder")
    item = new_item(api, seller, starting=1, increment=1)
    iid, tag = int(item["id"]), f"bulk-{item['id']}"
    try:
        stack.psql(
            "WITH made AS (INSERT INTO items (seller_id, title, description, starting_price, min_increment,"
            " current_price, ends_at, status, closed_at)"
            f" SELECT {int(seller.id)}, '{tag} ' || n, '', 1, 1, 1, timestamptz '1999-01-01' + n * interval '1 s',"
            " 'closed', timestamptz '1999-01-01' + n * interval '1 s'"
            f" FROM generate_series(1, {BULK}) AS n RETURNING id)"
            " INSERT INTO rooms (id, item_id) SELECT 'item:' || id, id FROM made")
        stack.psql(
            "INSERT INTO bids (item_id, bidder_id, price, created_at)"
            f" SELECT {iid}, {int(bidder.id)}, n, now() + n * interval '1 ms' FROM generate_series(1, {BULK}) AS n;"
            f" UPDATE items SET current_price = {BULK}, highest_bidder_id = {int(bidder.id)}, bid_count = {BULK}"
            f" WHERE id = {iid}")
        total = int(stack.psql("SELECT count(*) FROM items"))
        assert total > 1000 + 50

        for query, expected in (("", 100), ("?limit=1000", 1000), ("?limit=1001", 1000), ("?limit=5000", 1000)):
            r = api.get("/items" + query)
            assert r.status_code == 200, r.text
            assert len(r.json()) == expected, f"GET /items{query}: {len(r.json())} items of {total}, expected {expected}"
        listed = api.get("/items?limit=5000").json()
        assert listed[0]["status"] == "open" and listed[-1]["status"] == "closed"
        assert len({it["id"] for it in listed}) == 1000

        prices = list(range(1, BULK + 1))
        for query, expected in (("", prices[:100]), ("?limit=1000", prices[:1000]), ("?limit=1001", prices[:1000]),
                                ("?limit=5000", prices[:1000])):
            r = api.get(f"/items/{iid}/bids{query}")
            assert r.status_code == 200, r.text
            got = [b["price"] for b in r.json()]
            assert got == expected, f"GET /items/{iid}/bids{query}: {len(got)} bids, expected the oldest {len(expected)}"
        thousandth = api.get(f"/items/{iid}/bids?limit=1000").json()[-1]["id"]
        rest = api.get(f"/items/{iid}/bids?after={thousandth}&limit=5000").json()
        assert [b["price"] for b in rest] == prices[1000:]
    finally:
        stack.psql(f"DELETE FROM bids WHERE item_id = {iid}; DELETE FROM items WHERE id = {iid} OR title LIKE '{tag} %'")


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5"])
def test_list_items_bad_limit_is_400(api, limit):
    assert_error(api.get(f"/items?limit={limit}"), 400, "INVALID_INPUT")


@pytest.mark.parametrize("item_id", ["999999999", "abc", "-1", "0", "1.5", "99999999999999999999999", "1e3", "%20"])
def test_unknown_or_malformed_item_is_404(api, item_id):
    assert_error(api.get(f"/items/{item_id}"), 404, "ITEM_NOT_FOUND")
    assert_error(api.get(f"/items/{item_id}/bids"), 404, "ITEM_NOT_FOUND")


# --- GET /items/{id}/bids -------------------------------------------------------------------

def test_bids_listing_oldest_first_with_after_and_limit(api, seller, sio):
    item = new_item(api, seller, starting=100, increment=10)
    assert api.get(f"/items/{item['id']}/bids").json() == []
    bidder = new_user(api, name="Lister")
    c = sio(token=bidder.token).connect(item_id=item["id"])
    placed = [assert_ok_ack(c.bid_retrying(item["id"], 100 + 10 * i)) for i in range(5)]

    r = api.get(f"/items/{item['id']}/bids")
    assert r.status_code == 200
    bids = r.json()
    assert [b["id"] for b in bids] == [b["id"] for b in placed]
    for b, p in zip(bids, placed):
        assert set(b) == BID_KEYS
        assert b == p, "the stored bid must equal the acked bid"
        assert b["itemId"] == item["id"]
        assert b["bidder"] == {"id": bidder.id, "name": "Lister"}
        parse_time(b["createdAt"])
    assert [b["price"] for b in bids] == [100, 110, 120, 130, 140]

    after = api.get(f"/items/{item['id']}/bids?after={placed[1]['id']}")
    assert [b["id"] for b in after.json()] == [b["id"] for b in placed[2:]]
    limited = api.get(f"/items/{item['id']}/bids?after={placed[0]['id']}&limit=2")
    assert [b["id"] for b in limited.json()] == [b["id"] for b in placed[1:3]]
    assert api.get(f"/items/{item['id']}/bids?after={placed[-1]['id']}").json() == []
    assert len(api.get(f"/items/{item['id']}/bids?limit=5000").json()) == 5

    got = api.get(f"/items/{item['id']}").json()
    assert got["currentPrice"] == 140
    assert got["highestBidder"] == {"id": bidder.id, "name": "Lister"}


@pytest.mark.parametrize("query", ["after=abc", "after=-1", "after=1.5", "limit=0", "limit=-3", "limit=x"])
def test_bids_listing_bad_query_is_400(api, seller, query):
    item = new_item(api, seller)
    assert_error(api.get(f"/items/{item['id']}/bids?{query}"), 400, "INVALID_INPUT")


@pytest.mark.parametrize("query", ["after=", "limit=", "limit=&limit=5", "limit=5&limit=6", "after=1&after=2"])
def test_an_empty_or_repeated_query_parameter_is_400(api, seller, query):
    """Found by schemathesis: `limit=` or `after=` (empty) and a repeated parameter were read as
    absent or as their first value; they have no one value, so they are refused like a bad one."""
    item = new_item(api, seller)
    assert_error(api.get(f"/items/{item['id']}/bids?{query}"), 400, "INVALID_INPUT")
    if "after" not in query:
        assert_error(api.get(f"/items?{query}"), 400, "INVALID_INPUT")


def test_a_limit_past_the_range_of_integers_counts_as_1000(api):
    """A larger limit is capped, not refused — however many digits it has."""
    r = api.get("/items?limit=" + "9" * 40)
    assert r.status_code == 200, r.text
    assert len(r.json()) == len(api.get("/items?limit=1000").json())


# --- health, readiness, metrics, unknown routes, CORS -----------------------------------------

def test_healthz(api):
    r = api.get("/healthz")
    assert r.status_code == 200


def test_readyz_when_postgres_and_redis_are_up(api, stack):
    r = api.get("/readyz")
    assert r.status_code == 200, r.text
    expected = {"status": "ready", "postgres": "up"}
    if stack.redis_url:
        expected["redis"] = "up"
    assert r.json() == expected


def test_metrics_are_prometheus_text_and_count_bids(api, seller, sio):
    item = new_item(api, seller)
    bidder = new_user(api)
    c = sio(token=bidder.token).connect(item_id=item["id"])
    assert_ok_ack(c.bid(item["id"], item["startingPrice"]))
    r = api.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    lines = [l for l in r.text.splitlines() if l.startswith("auction_bids_total")]
    assert lines, f"/metrics has no auction_bids_total after a bid:\n{r.text[:2000]}"
    for line in lines:
        assert re.fullmatch(r'auction_bids_total(\{[^}]*\})? [0-9.e+]+', line), line


@pytest.mark.parametrize("method, path", [("GET", "/nope"), ("GET", "/items/1/nope"), ("POST", "/auth/nope"),
                                          ("GET", "/auth")])
def test_unknown_route_is_404_not_found(api, method, path):
    assert_error(api.call(method, path), 404, "NOT_FOUND")


def test_cors_for_allowed_and_foreign_origins(api):
    ok = api.get("/items", headers={"Origin": ALLOWED_FOREIGN_ORIGIN})
    assert ok.status_code == 200
    assert ok.headers.get("Access-Control-Allow-Origin") == ALLOWED_FOREIGN_ORIGIN
    assert ok.headers.get("Access-Control-Allow-Credentials") == "true"
    pre = api.call("OPTIONS", "/auth/login", headers={"Origin": ALLOWED_FOREIGN_ORIGIN,
                                                      "Access-Control-Request-Method": "POST",
                                                      "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code in (200, 204), pre.text
    assert pre.headers.get("Access-Control-Allow-Origin") == ALLOWED_FOREIGN_ORIGIN
    assert "POST" in pre.headers.get("Access-Control-Allow-Methods", "")
    foreign = api.get("/items", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in foreign.headers
