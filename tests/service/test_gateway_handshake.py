"""Realtime gateway, before and at connection: allowRequest (403 before any session), the
session_id cookie of the first response, rooms by itemId, the state on join."""

from __future__ import annotations

import json
import re

import pytest
import requests
import socketio
import websocket

from service_helpers import (ALLOWED_FOREIGN_ORIGIN, SESSION_TTL, alg_none_token, assert_ok_ack, login, mint_token,
                             new_item, new_user, polling_handshake, session_cookie, set_cookies,
                             websocket_handshake)

FORBIDDEN = {"code": 4, "message": "Forbidden"}


@pytest.fixture(scope="module")
def owner(api):
    return new_user(api, name="Handshake Owner")


@pytest.fixture(scope="module")
def item(api, owner):
    return new_item(api, owner)


def assert_forbidden_before_any_session(stack, headers):
    r = polling_handshake(stack, headers)
    assert r.status_code == 403, f"expected 403, got {r.status_code}: {r.text[:300]}"
    assert r.json() == FORBIDDEN
    assert set_cookies(r) == [], f"a refused handshake must not set cookies: {set_cookies(r)}"
    assert '"sid"' not in r.text


# --- allowRequest ----------------------------------------------------------------------------

def bad_tokens(user_id: str) -> dict[str, str]:
    return {
        "expired": mint_token(user_id, exp_in=-30),
        "forged key": mint_token(user_id, secret="a-completely-different-secret-0123456789"),
        "alg none": alg_none_token(user_id),
        "HS384": mint_token(user_id, algorithm="HS384"),
        "malformed": "not-a-jwt",
        "malformed three parts": "aaa.bbb.ccc",
        "truncated signature": mint_token(user_id)[:-6],
        "unknown user": mint_token("987654321"),
    }


def test_polling_handshake_refused_without_token(stack):
    assert_forbidden_before_any_session(stack, {})
    assert_forbidden_before_any_session(stack, {"Authorization": "Bearer "})
    assert_forbidden_before_any_session(stack, {"Authorization": "Basic dXNlcjpwYXNz"})
    assert_forbidden_before_any_session(stack, {"Cookie": "access_token="})


@pytest.mark.parametrize("kind", ["expired", "forged key", "alg none", "HS384", "malformed",
                                  "malformed three parts", "truncated signature", "unknown user"])
def test_polling_handshake_refused_for_bad_tokens(stack, owner, kind):
    token = bad_tokens(owner.id)[kind]
    assert_forbidden_before_any_session(stack, {"Authorization": f"Bearer {token}"})
    assert_forbidden_before_any_session(stack, {"Cookie": f"access_token={token}"})


def test_minted_token_with_the_right_key_is_accepted(stack, owner):
    """Control for the refusals: the same minting with the server's key is let in."""
    r = polling_handshake(stack, {"Authorization": f"Bearer {mint_token(owner.id)}"})
    assert r.status_code == 200, r.text
    assert r.text.startswith("0{") and '"sid"' in r.text


def test_deleted_user_is_refused(stack, api):
    user = new_user(api, name="Soon Gone")
    ok = polling_handshake(stack, {"Authorization": f"Bearer {user.token}"})
    assert ok.status_code == 200, ok.text
    stack.psql(f"DELETE FROM users WHERE id = {int(user.id)}")
    assert_forbidden_before_any_session(stack, {"Authorization": f"Bearer {user.token}"})
    assert_forbidden_before_any_session(stack, {"Cookie": f"access_token={user.token}"})


def test_websocket_first_handshake_refused_with_403(stack, owner):
    for headers in ({}, {"Authorization": f"Bearer {bad_tokens(owner.id)['forged key']}"},
                    {"Authorization": f"Bearer {bad_tokens(owner.id)['expired']}"}):
        status, hdrs, _ = websocket_handshake(stack, headers)
        assert status == 403, f"{headers}: expected 403, got {status}"
        assert "set-cookie" not in hdrs


def test_upgrade_request_is_checked_too(stack, owner):
    """allowRequest runs on the polling -> WebSocket upgrade as well."""
    bearer = {"Authorization": f"Bearer {owner.token}"}
    cases = [
        ("no token", [], None, 403),
        ("forged token", [f"Authorization: Bearer {bad_tokens(owner.id)['forged key']}"], None, 403),
        ("foreign origin", [f"Authorization: Bearer {owner.token}"], "http://evil.example", 403),
        ("valid", [f"Authorization: Bearer {owner.token}"], None, 101),
    ]
    for label, header, origin, expected in cases:
        r = polling_handshake(stack, bearer)
        assert r.status_code == 200
        sid = json.loads(r.text[1:])["sid"]
        opts = {"header": header, "timeout": 10}
        if origin:
            opts["origin"] = origin
        else:
            opts["suppress_origin"] = True
        url = f"{stack.ws_url}/socket.io/?EIO=4&transport=websocket&sid={sid}"
        try:
            ws = websocket.create_connection(url, **opts)
            status, body = ws.getstatus(), None
            ws.close()
        except websocket.WebSocketBadStatusException as exc:
            status, body = exc.status_code, exc.resp_body
        assert status == expected, f"{label}: expected {expected}, got {status}"
        if expected == 403:
            assert json.loads(body) == FORBIDDEN


def test_python_socketio_client_is_refused_without_token(stack, item, sio):
    c = sio()
    with pytest.raises(socketio.exceptions.ConnectionError):
        c.connect(item_id=item["id"], transports=["polling"], wait_state=False)
    c2 = sio(token=bad_tokens("1")["forged key"])
    with pytest.raises(socketio.exceptions.ConnectionError):
        c2.connect(item_id=item["id"], transports=["websocket"], wait_state=False)


def test_foreign_origin_is_refused(stack, owner):
    bearer = {"Authorization": f"Bearer {owner.token}"}
    assert_forbidden_before_any_session(stack, {**bearer, "Origin": "http://evil.example"})
    assert_forbidden_before_any_session(stack, {**bearer, "Origin": "null"})
    status, hdrs, _ = websocket_handshake(stack, bearer, origin="http://evil.example")
    assert status == 403 and "set-cookie" not in hdrs
    # Allowed origins pass (the configured extra one, and the server's own).
    r = polling_handshake(stack, {**bearer, "Origin": ALLOWED_FOREIGN_ORIGIN})
    assert r.status_code == 200, r.text
    status, _, ws = websocket_handshake(stack, bearer, origin=stack.own_origin)
    assert status == 101
    ws.close()


def test_cookie_token_works_for_both_transports(stack, owner, item, sio):
    for transports in (["polling"], ["websocket"]):
        c = sio(cookie=f"access_token={owner.token}").connect(item_id=item["id"], transports=transports)
        assert c.state()["you"] == {"id": owner.id, "name": owner.name}
        c.close()


# --- session_id --------------------------------------------------------------------------------

def assert_session_cookie(lines: list[str]) -> str:
    found = session_cookie(lines)
    assert found, f"expected Set-Cookie session_id, got {lines}"
    value, attrs = found
    # Room for 128 random bits at least, in a cookie-safe alphabet (test_sessions.py counts them).
    assert re.fullmatch(r"[0-9a-fA-F]{32,}|[A-Za-z0-9_-]{22,}", value), value
    assert attrs.get("path") == "/"
    assert "httponly" in attrs
    assert attrs.get("samesite", "").lower() == "strict"
    assert attrs.get("max-age") == str(SESSION_TTL)
    return value


def test_session_cookie_on_the_polling_handshake_only(stack, owner, item):
    bearer = {"Authorization": f"Bearer {owner.token}"}
    r = polling_handshake(stack, bearer)
    assert r.status_code == 200, r.text
    session_id = assert_session_cookie(set_cookies(r))
    sid = json.loads(r.text[1:])["sid"]
    # The rest of that Engine.IO session: no second cookie.
    base = f"{stack.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
    post = requests.post(base, data='40{"itemId":"%s"}' % item["id"], headers=bearer, timeout=10)
    assert post.status_code == 200, post.text
    assert session_cookie(set_cookies(post)) is None
    get = requests.get(base, headers=bearer, timeout=10)
    assert get.status_code == 200 and get.text.startswith("40"), get.text
    assert session_cookie(set_cookies(get)) is None
    # The polling -> WebSocket upgrade request is not a new session either.
    ws = websocket.create_connection(f"{stack.ws_url}/socket.io/?EIO=4&transport=websocket&sid={sid}",
                                     header=[f"Authorization: Bearer {owner.token}"], suppress_origin=True, timeout=10)
    try:
        assert ws.getstatus() == 101
        assert "set-cookie" not in {k.lower() for k in (ws.getheaders() or {})}
    finally:
        ws.close()

    # A new handshake that sends the cookie back reuses the session: no new cookie.
    again = polling_handshake(stack, bearer | {"Cookie": f"session_id={session_id}"})
    assert again.status_code == 200
    assert session_cookie(set_cookies(again)) is None, set_cookies(again)


def test_session_cookie_on_the_websocket_first_101(stack, owner):
    bearer = {"Authorization": f"Bearer {owner.token}"}
    status, hdrs, ws = websocket_handshake(stack, bearer)
    assert status == 101
    ws.close()
    assert "set-cookie" in hdrs, f"the 101 of a WebSocket-first session must set session_id: {hdrs}"
    session_id = assert_session_cookie([hdrs["set-cookie"]])
    status, hdrs, ws = websocket_handshake(stack, bearer | {"Cookie": f"session_id={session_id}"})
    assert status == 101
    ws.close()
    assert "set-cookie" not in hdrs, f"a live session sent back must not get a new cookie: {hdrs}"
    # The same session id is good for polling too.
    r = polling_handshake(stack, bearer | {"Cookie": f"session_id={session_id}"})
    assert r.status_code == 200 and session_cookie(set_cookies(r)) is None


def test_session_cookie_of_another_user_or_unknown_gets_a_new_one(stack, api, owner):
    other = new_user(api, name="Other Session")
    r = polling_handshake(stack, {"Authorization": f"Bearer {other.token}"})
    others_session = assert_session_cookie(set_cookies(r))
    bearer = {"Authorization": f"Bearer {owner.token}"}
    for cookie in (f"session_id={others_session}", "session_id=" + "ab" * 32, "session_id=short"):
        r = polling_handshake(stack, bearer | {"Cookie": cookie})
        assert r.status_code == 200
        fresh = assert_session_cookie(set_cookies(r))
        assert fresh != others_session


def test_logout_ends_the_session(stack, api):
    user = new_user(api, name="Logs Out")
    bearer = {"Authorization": f"Bearer {user.token}"}
    session_id = assert_session_cookie(set_cookies(polling_handshake(stack, bearer)))
    r = api.post("/auth/logout", cookie=f"access_token={user.token}; session_id={session_id}")
    assert r.status_code == 204
    # The signed-out access token opens nothing any more…
    assert polling_handshake(stack, bearer | {"Cookie": f"session_id={session_id}"}, close=True).status_code == 403
    # …and after signing in again, the old session cookie is not taken back.
    login(api, user)
    again = polling_handshake(stack, {"Authorization": f"Bearer {user.token}", "Cookie": f"session_id={session_id}"})
    assert again.status_code == 200
    assert assert_session_cookie(set_cookies(again)) != session_id, "a logged-out session must not be reused"


def test_python_socketio_keeps_and_reuses_its_session_cookie(stack, owner, item, sio):
    """python-socketio keeps the cookie in its HTTP session; a new handshake through that session
    sends it back and gets no new one."""
    c = sio(token=owner.token).connect(item_id=item["id"], transports=["polling"])
    http = c.sio.eio.http
    assert http is not None and "session_id" in http.cookies, "the polling handshake must have set session_id"
    again = http.get(f"{stack.url}/socket.io/?EIO=4&transport=polling",
                     headers={"Authorization": f"Bearer {owner.token}"}, timeout=10)
    assert again.status_code == 200, again.text
    assert session_cookie(set_cookies(again)) is None, set_cookies(again)


# --- rooms, state on join ------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["auth unknown", "auth malformed", "missing", "query unknown", "auth empty"])
def test_unknown_or_missing_item_is_a_connect_error(stack, owner, sio, how):
    auth, query = {}, ""
    if how == "auth unknown":
        auth = {"itemId": "999999999"}
    elif how == "auth malformed":
        auth = {"itemId": "not-an-id"}
    elif how == "query unknown":
        query = "itemId=999999998"
    elif how == "auth empty":
        auth = {"itemId": ""}
    c = sio(token=owner.token)
    with pytest.raises(socketio.exceptions.ConnectionError):
        c.connect(auth=auth, query=query, transports=["websocket"], wait_state=False)
    errors = c.connect_errors
    assert errors, "python-socketio must have seen the CONNECT_ERROR"
    data = errors[0]
    assert isinstance(data, dict), data
    assert isinstance(data.get("message"), str) and data["message"], data
    assert data.get("data") == {"code": "ITEM_NOT_FOUND"}, data


def test_state_on_join(stack, api, owner, sio):
    item = new_item(api, owner, starting=500, increment=25)
    viewer = new_user(api, name="Viewer Vic")
    c = sio(token=viewer.token).connect(item_id=item["id"], transports=["polling"])
    state = c.state()
    assert set(state) >= {"item", "recentBids", "you"}
    assert state["item"] == api.get(f"/items/{item['id']}").json()
    assert state["recentBids"] == []
    assert state["you"] == {"id": viewer.id, "name": "Viewer Vic"}
    assert len(c.events("auction:state")) == 1


def test_query_item_id_joins_the_room(stack, api, owner, sio):
    item = new_item(api, owner)
    c = sio(token=owner.token).connect(query=f"itemId={item['id']}", transports=["websocket"])
    assert c.state()["item"]["id"] == item["id"]
    ack = c.bid(item["id"], item["startingPrice"])
    bid = assert_ok_ack(ack)
    assert c.wait_event("bid", lambda e: e["bid"]["id"] == bid["id"]), "the socket must be in the item's room"


def test_recent_bids_are_the_last_50_and_last_bid_id_catches_up(stack, api, owner, sio):
    item = new_item(api, owner, starting=10, increment=1)
    bidders = [new_user(api, name=f"Catch {i}") for i in range(3)]
    clients = [sio(token=b.token).connect(item_id=item["id"]) for b in bidders]
    placed = []
    for i in range(55):
        placed.append(assert_ok_ack(clients[i % 3].bid_retrying(item["id"], 10 + i)))
    stored = api.get(f"/items/{item['id']}/bids?limit=1000").json()
    assert [b["id"] for b in stored] == [b["id"] for b in placed]

    fresh = sio(token=owner.token).connect(item_id=item["id"], transports=["polling"])
    recent = fresh.state()["recentBids"]
    assert recent == stored[-50:], "recentBids must be the last 50 bids, oldest first, as stored"

    # A reconnecting tab names the last bid it saw: it gets every bid after that one (more than 50 too).
    catch = sio(token=owner.token).connect(item_id=item["id"], last_bid_id=stored[0]["id"])
    assert catch.state()["recentBids"] == stored[1:]
    catch2 = sio(token=owner.token).connect(item_id=item["id"], last_bid_id=stored[40]["id"],
                                            transports=["polling"])
    assert catch2.state()["recentBids"] == stored[41:]
    latest = sio(token=owner.token).connect(query=f"itemId={item['id']}&lastBidId={stored[-1]['id']}")
    assert latest.state()["recentBids"] == []
    via_query = sio(token=owner.token).connect(query=f"itemId={item['id']}&lastBidId={stored[-3]['id']}")
    assert via_query.state()["recentBids"] == stored[-2:]
