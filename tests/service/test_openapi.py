"""The OpenAPI document at GET /openapi.json is honest: it is valid OpenAPI 3.1, it lists exactly
the REST routes the server registers (each answering its documented methods and no others), and
real answers of every operation — success and the main errors — match its statuses, media types,
headers and schemas."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from openapi_spec_validator import validate as validate_spec

from openapi_document import OpenAPIDocument
from service_helpers import (PASSWORD, REPO_ROOT, SioClient, assert_ok_ack, fresh_source_ip, new_item, new_user,
                             now_utc, register, rfc3339, unique_email)

# Routes of the browser UI and of assets: served by the instance, not part of the REST API.
PAGE_ROUTES = {("GET", "/"), ("GET", "/static/{file}"), ("GET", "/socket.io/socket.io.min.js")}
ROUTE_CALL = re.compile(r'router\.(get|post|put|patch|delete)\("([^"]+)"')


@pytest.fixture(scope="module")
def doc(api) -> OpenAPIDocument:
    r = api.get("/openapi.json")
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("application/json")
    return OpenAPIDocument(r.json())


@pytest.fixture(scope="module")
def seller(api):
    return new_user(api)


@pytest.fixture(scope="module")
def item_with_bid(api, seller, stack):
    """An auction with one accepted bid, placed over Socket.IO by another user."""
    item = new_item(api, seller)
    bidder = new_user(api)
    client = SioClient(stack, token=bidder.token)
    try:
        client.connect(item_id=item["id"])
        assert_ok_ack(client.bid(item["id"], item["startingPrice"]))
    finally:
        client.close()
    return item


def test_the_document_is_valid_openapi_3_1(doc):
    assert doc.document["openapi"].startswith("3.1.")
    validate_spec(doc.document)


def test_the_document_lists_exactly_the_rest_routes_the_server_registers(doc):
    registered = set()
    for source in sorted((REPO_ROOT / "Sources/AuctionServer/HTTP").glob("*Routes.swift")):
        registered |= {(m.upper(), p) for m, p in ROUTE_CALL.findall(source.read_text())}
    assert ("POST", "/items") in registered and ("GET", "/openapi.json") in registered, registered
    assert set(doc.operations()) == registered - PAGE_ROUTES


def concrete(path: str) -> str:
    return path.replace("{id}", "1")


def test_every_documented_path_answers_exactly_its_documented_methods(api, doc):
    """OPTIONS lists what a path answers (Allow); each documented method is among them and
    answers something other than 404 NOT_FOUND or 405."""
    for path, item in doc.document["paths"].items():
        methods = {m.upper() for m in item if m in ("get", "post", "put", "patch", "delete")}
        expected = methods | {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set())
        r = api.call("OPTIONS", concrete(path))
        assert r.status_code == 204, (path, r.status_code, r.text[:200])
        assert {m.strip() for m in r.headers["Allow"].split(",")} == expected, (path, r.headers["Allow"])
        for method in methods:
            answer = api.call(method, concrete(path), json={} if method == "POST" else None)
            assert answer.status_code != 405, (method, path)
            assert not (answer.status_code == 404 and answer.json()["error"]["code"] == "NOT_FOUND"), (method, path)


def test_every_operation_documents_its_errors_with_their_codes(doc):
    for method, path in doc.operations():
        for status, response in doc.operation(method, path)["responses"].items():
            if status.startswith(("4", "5")) and path != "/readyz":
                schema = response["content"]["application/json"]["schema"]
                codes = schema["properties"]["error"]["properties"]["code"]["enum"]
                assert codes and all(re.fullmatch(r"[A-Z][A-Z0-9_]*", c) for c in codes), (method, path, status)


# --- real answers --------------------------------------------------------------------------

def test_register_answers(api, doc):
    email = unique_email("openapi")
    body = doc.check("POST", "/auth/register", api.post(
        "/auth/register", json={"email": email, "name": "Open Api", "password": PASSWORD}))
    assert body["user"]["email"] == email
    doc.check("POST", "/auth/register", api.post(
        "/auth/register", json={"email": email.upper(), "name": "Again", "password": PASSWORD}))  # 409
    doc.check("POST", "/auth/register", api.post("/auth/register", json={"email": unique_email()}))  # 400
    doc.check("POST", "/auth/register", api.post(
        "/auth/register", data="{}", headers={"Content-Type": "text/plain"}))  # 415
    doc.check("POST", "/auth/register", api.post(
        "/auth/register", json={"email": unique_email(), "name": "x" * 70000, "password": PASSWORD}))  # 413
    doc.check("POST", "/auth/register", api.post(
        "/auth/register", json={"email": unique_email(), "name": "n", "password": PASSWORD},
        headers={"Origin": "http://evil.example"}))  # 403


def test_login_answers(api, doc):
    user = register(api)
    ok = api.post("/auth/login", json={"email": user.email, "password": PASSWORD}, source_ip=fresh_source_ip())
    assert ok.status_code == 200
    doc.check("POST", "/auth/login", ok)
    wrong = api.post("/auth/login", json={"email": user.email, "password": "wrong password"},
                     source_ip=fresh_source_ip())
    assert wrong.status_code == 401
    doc.check("POST", "/auth/login", wrong)
    doc.check("POST", "/auth/login", api.post("/auth/login", json={"email": user.email}))  # 400
    statuses = set()
    for _ in range(12):
        r = api.post("/auth/login", json={"email": user.email, "password": "wrong password"},
                     source_ip=fresh_source_ip())
        statuses.add(r.status_code)
        doc.check("POST", "/auth/login", r)
    assert 429 in statuses, statuses


def test_refresh_answers(api, doc):
    user = new_user(api)
    renewed = api.post("/auth/refresh", json={"refreshToken": user.refresh_token})
    assert renewed.status_code == 200, renewed.text
    doc.check("POST", "/auth/refresh", renewed)
    # (The token just spent is still answered for 10 s: two tabs refreshing at once.)
    unknown = api.post("/auth/refresh", json={"refreshToken": "garbage"})
    assert unknown.status_code == 401
    doc.check("POST", "/auth/refresh", unknown)
    doc.check("POST", "/auth/refresh", api.post("/auth/refresh", json={}))  # 401: no token at all
    doc.check("POST", "/auth/refresh", api.post("/auth/refresh", json={"refreshToken": 7}))  # 400


def test_logout_and_me_answers(api, doc):
    user = new_user(api)
    me = api.get("/auth/me", token=user.token)
    assert me.status_code == 200
    assert doc.check("GET", "/auth/me", me)["user"]["id"] == user.id
    out = api.post("/auth/logout", token=user.token)
    assert out.status_code == 204
    doc.check("POST", "/auth/logout", out)
    gone = api.get("/auth/me", token=user.token)
    assert gone.status_code == 401
    doc.check("GET", "/auth/me", gone)
    everywhere = api.post("/auth/logout?everywhere=true")
    assert everywhere.status_code == 401
    doc.check("POST", "/auth/logout", everywhere)


def test_item_answers(api, doc, seller, item_with_bid):
    ends = rfc3339(now_utc() + timedelta(hours=1))
    good = {"title": "OpenAPI lamp", "description": "d", "startingPrice": 5, "minIncrement": 1, "endsAt": ends}
    created = api.post("/items", json=good, token=seller.token)
    assert created.status_code == 201
    item = doc.check("POST", "/items", created)
    assert item["highestBidder"] is None
    for bad in ({**good, "startingPrice": 0}, {**good, "endsAt": "yesterday"}, {"title": "t"}):
        assert api.post("/items", json=bad, token=seller.token).status_code == 400
        doc.check("POST", "/items", api.post("/items", json=bad, token=seller.token))
    doc.check("POST", "/items", api.post("/items", json=good))  # 401
    doc.check("POST", "/items", api.post("/items", json=good, token=seller.token,
                                         headers={"Origin": "http://evil.example"}))  # 403
    listed = doc.check("GET", "/items", api.get("/items?limit=1000"))
    assert item["id"] in {i["id"] for i in listed}
    doc.check("GET", "/items", api.get("/items?limit=0"))  # 400
    with_bid = doc.check("GET", "/items/{id}", api.get(f"/items/{item_with_bid['id']}"))
    assert with_bid["highestBidder"] is not None
    page = api.get(f"/items/{item['id']}", headers={"Accept": "text/html"})
    assert "<html" in doc.check("GET", "/items/{id}", page).lower()
    doc.check("GET", "/items/{id}", api.get("/items/999999999"))  # 404
    doc.check("GET", "/items/{id}", api.get("/items/not-an-id"))  # 404


def test_bid_listing_answers(api, doc, item_with_bid):
    bids = doc.check("GET", "/items/{id}/bids", api.get(f"/items/{item_with_bid['id']}/bids"))
    assert len(bids) == 1 and bids[0]["price"] == item_with_bid["startingPrice"]
    assert doc.check("GET", "/items/{id}/bids", api.get(f"/items/{item_with_bid['id']}/bids?after={bids[0]['id']}&limit=5")) == []
    doc.check("GET", "/items/{id}/bids", api.get(f"/items/{item_with_bid['id']}/bids?after=x"))  # 400
    doc.check("GET", "/items/{id}/bids", api.get(f"/items/{uuid.uuid4().hex}/bids"))  # 404


def test_operations_answers(api, doc):
    assert doc.check("GET", "/healthz", api.get("/healthz")) == {"status": "ok"}
    assert doc.check("GET", "/readyz", api.get("/readyz"))["status"] == "ready"
    assert "# TYPE" in doc.check("GET", "/metrics", api.get("/metrics"))
    assert doc.check("GET", "/openapi.json", api.get("/openapi.json"))["openapi"].startswith("3.1")
