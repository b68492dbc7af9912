"""The session store is Redis: a session_id cookie made by one instance is known to the other,
on polling and on WebSocket-first handshakes."""

from __future__ import annotations

import dataclasses
import secrets

import pytest
import requests

from cluster_helpers import Api, readyz
from service_helpers import login, new_user, polling_handshake, set_cookies, websocket_handshake
from service_helpers import session_cookie as cookie_of


def headers_for(token: str, cookie: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if cookie:
        headers["Cookie"] = f"session_id={cookie}"
    return headers


def handshake(endpoint, token: str, cookie: str | None = None) -> requests.Response:
    """A polling handshake whose Engine.IO session is closed at once, so nothing lingers."""
    r = polling_handshake(endpoint, headers_for(token, cookie), close=True)
    assert r.status_code == 200, f"{endpoint.name}: handshake {r.status_code}: {r.text[:300]}"
    return r


def ws_handshake(endpoint, token: str, cookie: str | None = None) -> str | None:
    """A WebSocket-first handshake; the session_id its 101 sets, if any."""
    status, headers, ws = websocket_handshake(endpoint, headers_for(token, cookie))
    assert status == 101, f"{endpoint.name}: WebSocket-first handshake {status}"
    ws.close()
    found = cookie_of([headers["set-cookie"]]) if "set-cookie" in headers else None
    return found[0] if found else None


def session_cookie(r: requests.Response) -> str | None:
    found = cookie_of(r)
    return found[0] if found else None


@pytest.fixture(scope="module")
def users(api):
    return new_user(api, name="Session Ann"), new_user(api, name="Session Ben")


def test_both_instances_are_ready_with_redis(cluster):
    for endpoint in [*cluster.instances, cluster.lb]:
        status, body = readyz(endpoint)
        assert status == 200 and body == {"status": "ready", "postgres": "up", "redis": "up"}, (endpoint.name, body)


def test_a_session_made_on_one_instance_is_accepted_by_the_other(one, two, users):
    ann, _ = users
    first = handshake(one, ann.token)
    session_id = session_cookie(first)
    assert session_id, f"instance 1 must set session_id on a first handshake: {set_cookies(first)}"
    # Instance 2 finds it in Redis: no new cookie, on polling and on a WebSocket-first handshake.
    again = handshake(two, ann.token, cookie=session_id)
    assert session_cookie(again) is None, f"instance 2 replaced a live session: {set_cookies(again)}"
    assert ws_handshake(two, ann.token, cookie=session_id) is None, \
        "instance 2's 101 replaced a live session made by instance 1"
    back = handshake(one, ann.token, cookie=session_id)
    assert session_cookie(back) is None, set_cookies(back)


def test_a_session_made_by_a_websocket_first_101_is_accepted_by_the_other(one, two, users):
    ann, _ = users
    session_id = ws_handshake(one, ann.token)
    assert session_id, "the 101 of a WebSocket-first session on instance 1 must set session_id"
    assert ws_handshake(two, ann.token, cookie=session_id) is None, "instance 2 replaced it (WebSocket-first)"
    assert session_cookie(handshake(two, ann.token, cookie=session_id)) is None, "instance 2 replaced it (polling)"


def test_unknown_or_foreign_sessions_get_a_new_cookie_on_either_instance(one, two, users):
    ann, ben = users
    made_up = secrets.token_hex(32)
    for endpoint in (one, two):
        r = handshake(endpoint, ann.token, cookie=made_up)
        fresh = session_cookie(r)
        assert fresh and fresh != made_up, f"{endpoint.name} accepted a session id nobody created"
    # Ann's session is not Ben's, whichever instance is asked.
    anns = session_cookie(handshake(one, ann.token))
    r = handshake(two, ben.token, cookie=anns)
    assert session_cookie(r) not in (None, anns), "instance 2 let Ben use Ann's session"


def test_logout_on_one_instance_ends_the_session_on_the_other(one, two, api):
    # A user of its own: logout ends the sign-in, so its token is refused afterwards.
    cid = new_user(api, name="Session Cid")
    session_id = session_cookie(handshake(two, cid.token))
    assert session_id
    assert session_cookie(handshake(one, cid.token, cookie=session_id)) is None
    out = Api(one).post("/auth/logout", cookie=f"access_token={cid.token}; session_id={session_id}")
    assert out.status_code == 204, out.text
    # The old token is refused on the other instance too, and the session it had is gone: signed
    # in again, the old session_id gets a new one there.
    assert polling_handshake(two, headers_for(cid.token, session_id), close=True).status_code == 403
    again = login(api, dataclasses.replace(cid))
    fresh = session_cookie(handshake(two, again.token, cookie=session_id))
    assert fresh and fresh != session_id, "instance 2 still accepts a session logged out on instance 1"
