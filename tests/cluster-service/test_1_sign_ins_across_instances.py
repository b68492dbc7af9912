"""Sign-ins across the cluster: a logout on one instance ends the sign-in on both — its sockets
on either instance are disconnected and its access token is refused everywhere — and failed
sign-ins are counted in Redis, so an account locked on one instance is locked on the other."""

from __future__ import annotations

import dataclasses

from cluster_helpers import Api, wait_until
from service_helpers import assert_error, fresh_source_ip, login, new_item, new_user, polling_handshake, register

# Disconnects travel by Redis pub/sub in milliseconds; the bound leaves room for a loaded machine.
DISCONNECT_BOUND = 2.0


def test_logout_on_one_instance_disconnects_the_sign_ins_sockets_on_both(api, tab, one, two):
    seller = new_user(api, name="Signout Seller")
    item = new_item(api, seller)
    user = new_user(api, name="Signs Out")
    other = login(api, dataclasses.replace(user))        # a second sign-in, kept
    gone = [tab(one, token=user.token, label="out@1").connect(item["id"]),
            tab(two, token=user.token, label="out@2").connect(item["id"], transports=["polling"])]
    kept = [tab(one, token=other.token, label="kept@1").connect(item["id"]),
            tab(two, token=other.token, label="kept@2").connect(item["id"])]

    assert Api(one).post("/auth/logout", token=user.token).status_code == 204
    for t in gone:
        assert wait_until(lambda t=t: not t.sio.connected, timeout=DISCONNECT_BOUND), f"{t.label} still connected"
    for instance in (one, two):
        assert_error(Api(instance).get("/auth/me", token=user.token), 401, "UNAUTHORIZED")
        assert polling_handshake(instance, {"Authorization": f"Bearer {user.token}"}, close=True).status_code == 403
    assert_error(Api(two).post("/auth/refresh", json={"refreshToken": user.refresh_token}), 401, "UNAUTHORIZED")
    # The user's other sign-in is untouched on both instances.
    for t in kept:
        assert t.sio.connected, f"{t.label} was disconnected"
    bid = kept[1].bid(item["id"], item["startingPrice"])
    assert bid["ok"] is True, bid
    assert kept[0].wait_bid(bid["bid"]["id"])


def test_a_refresh_token_rotated_on_one_instance_is_spent_on_the_other(api, one, two):
    user = new_user(api, name="Rotates Across")
    r = Api(one).post("/auth/refresh", json={"refreshToken": user.refresh_token})
    assert r.status_code == 200, r.text
    nxt = r.json()["refreshToken"]
    r2 = Api(two).post("/auth/refresh", json={"refreshToken": nxt})
    assert r2.status_code == 200, r2.text
    # The first token again, now two rotations old, on instance 2: the sign-in ends for both.
    assert_error(Api(two).post("/auth/refresh", json={"refreshToken": user.refresh_token}), 401, "UNAUTHORIZED")
    assert_error(Api(one).post("/auth/refresh", json={"refreshToken": r2.json()["refreshToken"]}), 401, "UNAUTHORIZED")


def test_twenty_wrong_passwords_lock_the_account_on_both_instances(api, one, two):
    user = register(api, name="Locked Across")
    answers = []
    for n in range(20):
        instance = (one, two)[n % 2]
        answers.append(Api(instance).post("/auth/login", json={"email": user.email, "password": "wrong-password"},
                                          source_ip=fresh_source_ip()))
    assert [r.status_code for r in answers[:10]] == [401] * 10, [r.status_code for r in answers]
    for r in answers[10:]:
        assert_error(r, 429, "RATE_LIMITED")
        assert int(r.headers["Retry-After"]) >= 1
    for instance in (one, two):
        r = Api(instance).post("/auth/login", json={"email": user.email, "password": user.password}, source_ip=fresh_source_ip())
        assert_error(r, 429, "RATE_LIMITED")
