"""A sign-in's life: the login's refresh token, rotation at POST /auth/refresh, a spent token
presented again ending the whole sign-in, logout (and "everywhere") refusing the old access
token at the handshake, on REST and for its sockets, which are disconnected."""

from __future__ import annotations

import dataclasses

import pytest

from service_helpers import (
    assert_error, fresh_source_ip, login, new_item, new_user, parse_cookie, polling_handshake, register,
    set_cookies, wait_until,
)

REFRESH_TOKEN_TTL = 14 * 24 * 3600


def refresh(api, token: str):
    return api.post("/auth/refresh", json={"refreshToken": token})


def me(api, access: str):
    return api.get("/auth/me", token=access)


def test_login_hands_out_a_refresh_token_in_the_body_and_a_cookie_scoped_to_auth(api):
    user = register(api)
    r = api.post("/auth/login", json={"email": user.email, "password": user.password}, source_ip=fresh_source_ip())
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["refreshToken"], str) and len(body["refreshToken"]) >= 40
    cookies = {name: (value, attrs) for name, value, attrs in map(parse_cookie, set_cookies(r))}
    value, attrs = cookies["refresh_token"]
    assert value == body["refreshToken"]
    assert attrs.get("path") == "/auth", attrs
    assert "httponly" in attrs and attrs.get("samesite") == "Strict", attrs
    assert attrs.get("max-age") == str(REFRESH_TOKEN_TTL), attrs
    # The page's sign that there is something to renew: readable by scripts, holding nothing.
    value, attrs = cookies["signed_in"]
    assert value == "1" and attrs.get("path") == "/" and "httponly" not in attrs, attrs
    assert attrs.get("samesite") == "Strict" and attrs.get("max-age") == str(REFRESH_TOKEN_TTL), attrs


@pytest.mark.parametrize("body", [None, {}, {"refreshToken": None}])
def test_a_refresh_without_any_token_is_401(api, body):
    """No cookie and no token in the body is the same as a wrong token (the contract's 401), not
    bad input."""
    r = api.post("/auth/refresh") if body is None else api.post("/auth/refresh", json=body)
    assert_error(r, 401, "UNAUTHORIZED")


@pytest.mark.parametrize("body", ['{"refreshToken": 7}', "[]", "{not json"])
def test_a_refresh_body_that_is_not_the_object_is_400(api, body):
    r = api.post("/auth/refresh", data=body, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "INVALID_INPUT")


def test_refresh_spends_the_token_and_hands_out_the_next_pair(api):
    user = new_user(api)
    r = refresh(api, user.refresh_token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["refreshToken"] != user.refresh_token
    assert body["user"]["id"] == user.id and body["tokenType"] == "Bearer" and body["expiresIn"] > 0
    assert me(api, body["accessToken"]).json()["user"]["id"] == user.id
    names = [parse_cookie(c)[0] for c in set_cookies(r)]
    assert "access_token" in names and "refresh_token" in names
    # The next one works in turn, through the cookie this time.
    r2 = api.post("/auth/refresh", cookie=f"refresh_token={body['refreshToken']}")
    assert r2.status_code == 200, r2.text
    assert r2.json()["refreshToken"] not in (user.refresh_token, body["refreshToken"])


def test_two_tabs_refreshing_at_once_both_get_the_current_token(api):
    user = new_user(api)
    first = refresh(api, user.refresh_token)
    second = refresh(api, user.refresh_token)          # the same token, a moment later
    assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
    assert second.json()["refreshToken"] == first.json()["refreshToken"]
    assert refresh(api, first.json()["refreshToken"]).status_code == 200


def test_a_spent_token_presented_again_ends_the_whole_sign_in(stack, api):
    user = new_user(api)
    spent = user.refresh_token
    second = refresh(api, spent).json()
    third = refresh(api, second["refreshToken"]).json()
    # The first token again, after two rotations: someone else holds the family.
    r = refresh(api, spent)
    assert_error(r, 401, "UNAUTHORIZED")
    assert_error(refresh(api, third["refreshToken"]), 401, "UNAUTHORIZED")
    for access in (user.token, second["accessToken"], third["accessToken"]):
        assert_error(me(api, access), 401, "UNAUTHORIZED")
        assert polling_handshake(stack, {"Authorization": f"Bearer {access}"}, close=True).status_code == 403
    # A new login is a new sign-in, unaffected.
    assert me(api, login(api, user).token).status_code == 200


@pytest.mark.parametrize("garbage", ["", "x", "a" * 65, "0" * 32 + "." + "0" * 32, "../../etc"])
def test_unknown_or_malformed_refresh_tokens_are_401(api, garbage):
    assert_error(refresh(api, garbage), 401, "UNAUTHORIZED")


def test_logout_refuses_the_old_access_token_everywhere_and_disconnects_its_sockets(stack, api, sio):
    seller = new_user(api)
    item = new_item(api, seller)
    user = new_user(api)
    other = login(api, dataclasses.replace(user))   # a second sign-in of the same user
    tab = sio(token=user.token).connect(item_id=item["id"])
    kept = sio(token=other.token).connect(item_id=item["id"])
    r = api.post("/auth/logout", token=user.token)
    assert r.status_code == 204, r.text
    assert wait_until(lambda: not tab.sio.connected, timeout=3), "the signed-out tab is still connected"
    assert_error(me(api, user.token), 401, "UNAUTHORIZED")
    assert_error(refresh(api, user.refresh_token), 401, "UNAUTHORIZED")
    assert polling_handshake(stack, {"Authorization": f"Bearer {user.token}"}, close=True).status_code == 403
    # The other sign-in of the same user goes on: its tab stays and still bids.
    assert kept.sio.connected
    assert kept.bid(item["id"], item["startingPrice"])["ok"] is True
    assert me(api, other.token).status_code == 200


def test_logout_everywhere_ends_every_sign_in_of_the_user(api, sio):
    seller = new_user(api)
    item = new_item(api, seller)
    user = new_user(api)
    second = login(api, dataclasses.replace(user))
    tabs = [sio(token=user.token).connect(item_id=item["id"]), sio(token=second.token).connect(item_id=item["id"])]
    assert api.post("/auth/logout?everywhere=true", token=user.token).status_code == 204
    for t in tabs:
        assert wait_until(lambda t=t: not t.sio.connected, timeout=3), "a tab of the user is still connected"
    for access, refresh_token in ((user.token, user.refresh_token), (second.token, second.refresh_token)):
        assert_error(me(api, access), 401, "UNAUTHORIZED")
        assert_error(refresh(api, refresh_token), 401, "UNAUTHORIZED")
    assert_error(api.post("/auth/logout?everywhere=true"), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("query", ["everywhere=yes", "everywhere=", "everywhere=TRUE", "everywhere=true&everywhere=true"])
def test_logout_everywhere_takes_true_or_false_only(api, query):
    """A value that is neither would otherwise be read as "this sign-in only", silently less than
    what was asked; the sign-in is left as it was."""
    user = new_user(api)
    assert_error(api.post(f"/auth/logout?{query}", token=user.token), 400, "INVALID_INPUT")
    assert me(api, user.token).status_code == 200
    assert api.post("/auth/logout?everywhere=false", token=user.token).status_code == 204
    assert_error(me(api, user.token), 401, "UNAUTHORIZED")
