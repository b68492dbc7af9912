"""The session store is Redis: a session_id cookie made by one instance is known to the other."""

from __future__ import annotations

import json
import secrets

import pytest
import requests

from cluster_helpers import Api, readyz
from service_helpers import new_user, parse_cookie, set_cookies


def handshake(endpoint, token: str, cookie: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if cookie:
        headers["Cookie"] = f"session_id={cookie}"
    r = requests.get(f"{endpoint.url}/socket.io/?EIO=4&transport=polling", headers=headers, timeout=10)
    assert r.status_code == 200, f"{endpoint.name}: handshake {r.status_code}: {r.text[:300]}"
    # Close that Engine.IO session at once (a close packet), so nothing lingers.
    sid = json.loads(r.text[1:])["sid"]
    requests.post(f"{endpoint.url}/socket.io/?EIO=4&transport=polling&sid={sid}", data="1", headers=headers,
                  timeout=10)
    return r


def session_cookie(r: requests.Response) -> str | None:
    for line in set_cookies(r):
        name, value, _ = parse_cookie(line)
        if name == "session_id":
            return value
    return None


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
    back = handshake(one, ann.token, cookie=session_id)
    assert session_cookie(back) is None, set_cookies(back)


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


def test_logout_on_one_instance_ends_the_session_on_the_other(one, two, users):
    ann, _ = users
    session_id = session_cookie(handshake(two, ann.token))
    assert session_id
    assert session_cookie(handshake(one, ann.token, cookie=session_id)) is None
    out = Api(one).post("/auth/logout", cookie=f"access_token={ann.token}; session_id={session_id}")
    assert out.status_code == 204, out.text
    fresh = session_cookie(handshake(two, ann.token, cookie=session_id))
    assert fresh and fresh != session_id, "instance 2 still accepts a session logged out on instance 1"
