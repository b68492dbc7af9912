"""The `session_id` store: ids with at least 128 random bits; with REDIS_URL the session lives in
Redis (`auction:session:<id>`, expiring after SESSION_TTL) so another instance on that Redis
resolves it; without REDIS_URL the instance keeps its own sessions; either way a session stops
resolving once SESSION_TTL has passed. "Resolves" is what the contract shows of it: a handshake
that sends a live session_id of its user gets no new Set-Cookie, any other gets a new one."""

from __future__ import annotations

import time

import pytest

from service_helpers import (SESSION_TTL, Instance, new_user, polling_handshake, random_bits, session_cookie,
                             websocket_handshake)

SAMPLES = 16  # a bit position shared by 16 random ids: chance 2^-15 each


def handshake_cookie(endpoint, user, session_id: str | None = None) -> tuple[str, dict] | None:
    """The session_id Set-Cookie of a polling handshake (None when the sent one was resolved)."""
    headers = {"Authorization": f"Bearer {user.token}"}
    if session_id is not None:
        headers["Cookie"] = f"session_id={session_id}"
    r = polling_handshake(endpoint, headers, close=True)
    assert r.status_code == 200, f"handshake {r.status_code}: {r.text[:300]}"
    return session_cookie(r)


def new_session(endpoint, user) -> str:
    found = handshake_cookie(endpoint, user)
    assert found, "a first handshake must set session_id"
    return found[0]


def test_session_ids_have_at_least_128_random_bits(stack, api):
    user = new_user(api, name="Entropy Eve")
    ids = [new_session(stack, user) for _ in range(SAMPLES)]
    assert len(set(ids)) == SAMPLES, f"two sessions got the same id: {ids}"
    bits = random_bits(ids)
    assert bits >= 128, f"only {bits} bit positions vary over {SAMPLES} session ids (need 128 random bits): {ids[:3]}"


def test_sessions_live_in_redis_with_the_ttl(stack, api, tmp_path):
    stack.require_redis()
    user = new_user(api, name="Redis Rae")
    session_id = new_session(stack, user)
    assert stack.redis_cli("GET", f"auction:session:{session_id}") == user.id
    ttl = int(stack.redis_cli("TTL", f"auction:session:{session_id}"))
    assert 0 < ttl <= SESSION_TTL, f"TTL {ttl}, expected SESSION_TTL={SESSION_TTL} at most"
    # So another instance on the same Redis resolves it, polling and WebSocket-first.
    other = Instance(stack, tmp_path / "other.log")
    try:
        assert handshake_cookie(other, user, session_id) is None, "an instance on the same Redis replaced the session"
        status, headers, ws = websocket_handshake(other, {"Authorization": f"Bearer {user.token}",
                                                          "Cookie": f"session_id={session_id}"})
        assert status == 101, status
        ws.close()
        assert "set-cookie" not in headers, f"the 101 replaced a session that is in Redis: {headers}"
    finally:
        other.stop()


def test_without_redis_an_instance_keeps_its_own_sessions(stack, api, tmp_path):
    user = new_user(api, name="Local Lou")
    alone = Instance(stack, tmp_path / "alone.log", redis=False)
    try:
        local = new_session(alone, user)
        assert handshake_cookie(alone, user, local) is None, "the instance did not resolve its own session"
        status, headers, ws = websocket_handshake(alone, {"Authorization": f"Bearer {user.token}",
                                                          "Cookie": f"session_id={local}"})
        assert status == 101, status
        ws.close()
        assert "set-cookie" not in headers, headers
        # Another user does not get it, and the sessions are the instance's alone.
        other = new_user(api, name="Local Other")
        fresh = handshake_cookie(alone, other, local)
        assert fresh and fresh[0] != local, "another user's handshake resolved the session"
        if stack.redis_url:
            assert stack.redis_cli("EXISTS", f"auction:session:{local}") == "0", "REDIS_URL unset, yet in Redis"
            found = handshake_cookie(stack, user, local)
            assert found and found[0] != local, "an instance with Redis resolved an in-process session"
    finally:
        alone.stop()


@pytest.mark.parametrize("store", ["redis", "in-process"])
def test_a_session_stops_resolving_after_session_ttl(stack, api, tmp_path, store):
    if store == "redis":
        stack.require_redis()
    user = new_user(api, name=f"Expiring {store}")
    short = Instance(stack, tmp_path / "short.log", redis=store == "redis", SESSION_TTL="2")
    try:
        made = time.monotonic()
        found = handshake_cookie(short, user)
        assert found, "a first handshake must set session_id"
        session_id, attrs = found
        assert attrs.get("max-age") == "2", attrs
        if store == "redis":
            assert 0 < int(stack.redis_cli("TTL", f"auction:session:{session_id}")) <= 2
        assert handshake_cookie(short, user, session_id) is None, "the session did not resolve within its TTL"
        time.sleep(max(0.0, made + 3.0 - time.monotonic()))
        again = handshake_cookie(short, user, session_id)
        assert again is not None and again[0] != session_id, \
            f"a session_id older than SESSION_TTL=2 s still resolved ({store} store)"
        if store == "redis":
            assert stack.redis_cli("EXISTS", f"auction:session:{session_id}") == "0"
    finally:
        short.stop()
