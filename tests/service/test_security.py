"""Issue 12's repros, each refused now: a known sid is not a key to someone's session, no
cross-site writes, bounded connections and session records, passwords bcrypt cannot cut short,
and input the database would refuse answered 400, never 503."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
import requests
import websocket

from service_helpers import (
    ALLOWED_FOREIGN_ORIGIN,
    Instance, SourceAddressAdapter, assert_error, fresh_source_ip, login, new_item, new_user,
    now_utc, polling_handshake, register, rfc3339, unique_email,
)

FORBIDDEN = {"code": 4, "message": "Forbidden"}


def eio(endpoint, sid: str | None = None) -> str:
    return f"{endpoint.url}/socket.io/?EIO=4&transport=polling" + (f"&sid={sid}" if sid else "")


def decode_payload(text: str) -> list[str]:
    """Engine.IO v4 polling payload: packets separated by the record separator."""
    return [p for p in text.split("\x1e") if p]


class PollingTab:
    """A victim's polling session opened by hand: handshake with its Bearer token, then its
    requests carry that token (and the session cookie the handshake set)."""

    def __init__(self, endpoint, user, item_id: str):
        self.endpoint = endpoint
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {user.token}"
        r = self.http.get(eio(endpoint), timeout=10)
        assert r.status_code == 200, r.text
        self.sid = json.loads(r.text[1:])["sid"]
        assert self.post(f'40{{"itemId":"{item_id}"}}').status_code == 200
        self.packets: list[str] = []
        self.wait_for(lambda p: p.startswith("40{"))
        self.wait_for(lambda p: p.startswith('42["auction:state"'))

    def post(self, body: str) -> requests.Response:
        return self.http.post(eio(self.endpoint, self.sid), data=body, headers={"Content-Type": "text/plain"}, timeout=10)

    def poll(self) -> list[str]:
        r = self.http.get(eio(self.endpoint, self.sid), timeout=30)
        assert r.status_code == 200, r.text
        got = decode_payload(r.text)
        for p in got:
            if p == "2":  # answer pings so the session lives
                self.post("3")
        self.packets += got
        return got

    def wait_for(self, predicate, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in list(self.packets):
                if predicate(p):
                    return p
            self.poll()
        raise AssertionError(f"no matching packet; got {self.packets}")

    def bid_with_cookie_only(self, cookie: str, item_id: str, price: int, ack_id: int) -> None:
        """A bid POSTed with nothing but the session cookie (as python-socketio's polling does),
        acked ok on this session."""
        bare = requests.Session()
        bare.cookies.set("session_id", cookie)
        r = bare.post(eio(self.endpoint, self.sid), data=f'42{ack_id}["bid",{{"itemId":"{item_id}","price":{price}}}]',
                      headers={"Content-Type": "text/plain"}, timeout=10)
        assert r.status_code == 200, r.text
        ack = json.loads(self.wait_for(lambda p: p.startswith(f"43{ack_id}["))[len(f"43{ack_id}"):])
        assert ack[0]["ok"] is True, ack

    def close(self) -> None:
        self.post("1")
        self.http.close()


# --- 1. session takeover by sid --------------------------------------------------------

def test_a_known_sid_without_credentials_is_refused_and_the_session_lives_on(stack, api):
    victim, seller = new_user(api), new_user(api)
    item = new_item(api, seller, starting=100, increment=10)
    tab = PollingTab(stack, victim, item["id"])
    try:
        forged_bid = f'4277["bid",{{"itemId":"{item["id"]}","price":500}}]'
        stranger = requests.post(eio(stack, tab.sid), data=forged_bid, headers={"Content-Type": "text/plain"}, timeout=10)
        assert stranger.status_code == 403, stranger.text
        assert stranger.json() == FORBIDDEN
        peek = requests.get(eio(stack, tab.sid), timeout=10)
        assert peek.status_code == 403 and peek.json() == FORBIDDEN
        assert api.get(f"/items/{item['id']}/bids").json() == [], "the forged bid was recorded"

        # The victim's session is untouched: its own bid goes through and is acked.
        assert tab.post(f'4211["bid",{{"itemId":"{item["id"]}","price":100}}]').status_code == 200
        ack = json.loads(tab.wait_for(lambda p: p.startswith("4311"))[4:])
        assert ack[0]["ok"] is True, ack
        assert ack[0]["bid"]["bidder"]["id"] == victim.id
    finally:
        tab.close()


def test_another_users_token_cannot_poll_post_or_upgrade_a_session(stack, api):
    victim, attacker, seller = new_user(api), new_user(api), new_user(api)
    item = new_item(api, seller)
    tab = PollingTab(stack, victim, item["id"])
    try:
        theirs = {"Authorization": f"Bearer {attacker.token}"}
        r = requests.post(eio(stack, tab.sid), data=f'4277["bid",{{"itemId":"{item["id"]}","price":500}}]',
                          headers={**theirs, "Content-Type": "text/plain"}, timeout=10)
        assert r.status_code == 403 and r.json() == FORBIDDEN
        r = requests.get(eio(stack, tab.sid), headers=theirs, timeout=10)
        assert r.status_code == 403 and r.json() == FORBIDDEN
        url = f"{stack.ws_url}/socket.io/?EIO=4&transport=websocket&sid={tab.sid}"
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(url, header=[f"Authorization: Bearer {attacker.token}"], suppress_origin=True, timeout=10)
        assert refused.value.status_code == 403
        assert json.loads(refused.value.resp_body) == FORBIDDEN
        assert api.get(f"/items/{item['id']}/bids").json() == []

        assert tab.post(f'4212["bid",{{"itemId":"{item["id"]}","price":100}}]').status_code == 200
        ack = json.loads(tab.wait_for(lambda p: p.startswith("4312"))[4:])
        assert ack[0]["ok"] is True and ack[0]["bid"]["bidder"]["id"] == victim.id, ack
    finally:
        tab.close()


def test_the_session_cookie_alone_carries_a_polling_session(stack, api):
    """python-socketio sends its headers with the handshake only; later polling requests carry
    just the cookie jar, i.e. the session_id cookie the handshake set."""
    victim, seller = new_user(api), new_user(api)
    item = new_item(api, seller)
    tab = PollingTab(stack, victim, item["id"])
    try:
        cookie = tab.http.cookies.get("session_id")
        assert cookie, "the handshake set no session_id cookie"
        tab.bid_with_cookie_only(cookie, item["id"], 100, ack_id=13)
        # Someone else's session cookie is someone else's identity.
        other = new_user(api)
        their_tab = PollingTab(stack, other, item["id"])
        try:
            wrong = requests.get(eio(stack, tab.sid), cookies={"session_id": their_tab.http.cookies.get("session_id")}, timeout=10)
            assert wrong.status_code == 403
        finally:
            their_tab.close()
    finally:
        tab.close()


def test_sids_are_not_logged_in_full(stack, api):
    user, seller = new_user(api), new_user(api)
    tab = PollingTab(stack, user, new_item(api, seller)["id"])
    tab.close()
    log = stack.log_text(200000)
    assert "session opened" in log
    assert tab.sid not in log, "the full sid is in the log"
    assert tab.sid[:6] + "…" in log


# --- 2. cross-site request forgery ----------------------------------------------------------

def item_body(title: str) -> str:
    return json.dumps({"title": title, "description": "csrf probe", "startingPrice": 100, "minIncrement": 10,
                       "endsAt": rfc3339(now_utc() + timedelta(days=1))})


def titles(api) -> set[str]:
    return {i["title"] for i in api.get("/items?limit=1000").json()}


def test_a_text_plain_post_from_another_port_is_refused(stack, api):
    """The repro: a page on http://127.0.0.1:9999 posts with the victim's cookie as text/plain."""
    victim = new_user(api)
    title = f"csrf {uuid.uuid4().hex[:8]}"
    r = api.post("/items", cookie=f"access_token={victim.token}", data=item_body(title),
                 headers={"Origin": "http://127.0.0.1:9999", "Content-Type": "text/plain", "Sec-Fetch-Site": "same-site"})
    assert_error(r, 403, "CROSS_SITE_REQUEST")
    assert title not in titles(api)


def test_a_json_post_from_a_foreign_origin_is_refused(stack, api):
    victim = new_user(api)
    title = f"csrf {uuid.uuid4().hex[:8]}"
    r = api.post("/items", cookie=f"access_token={victim.token}", data=item_body(title),
                 headers={"Origin": "http://evil.example", "Content-Type": "application/json"})
    assert_error(r, 403, "CROSS_SITE_REQUEST")
    r = api.post("/auth/logout", cookie=f"access_token={victim.token}", headers={"Origin": "http://evil.example"})
    assert_error(r, 403, "CROSS_SITE_REQUEST")
    # No Origin but the browser says the request is cross-site.
    r = api.post("/items", cookie=f"access_token={victim.token}", data=item_body(title),
                 headers={"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"})
    assert_error(r, 403, "CROSS_SITE_REQUEST")
    assert title not in titles(api)


def test_a_body_that_is_not_json_is_415(stack, api):
    victim = new_user(api)
    title = f"csrf {uuid.uuid4().hex[:8]}"
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        headers = {"Content-Type": content_type} if content_type else {}
        r = api.post("/items", token=victim.token, data=item_body(title), headers=headers)
        if content_type is None:
            # requests sends no Content-Type for a str body
            assert "Content-Type" not in r.request.headers
        assert_error(r, 415, "UNSUPPORTED_MEDIA_TYPE")
    r = api.post("/auth/login", data=json.dumps({"email": victim.email, "password": victim.password}),
                 headers={"Content-Type": "text/plain"}, source_ip=fresh_source_ip())
    assert_error(r, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert title not in titles(api)


def test_allowed_and_same_origin_pages_can_still_write(stack, api):
    user = new_user(api)
    for origin in (stack.own_origin, ALLOWED_FOREIGN_ORIGIN):
        title = f"ok {uuid.uuid4().hex[:8]}"
        r = api.post("/items", cookie=f"access_token={user.token}", data=item_body(title),
                     headers={"Origin": origin, "Content-Type": "application/json; charset=utf-8", "Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 201, (origin, r.text)
        assert title in titles(api)


# --- 3. connections per address and per user -----------------------------------------------

def handshake_from(endpoint, source_ip: str, user, headers: dict | None = None) -> requests.Response:
    with requests.Session() as s:
        s.mount("http://", SourceAddressAdapter(source_ip))
        return s.get(eio(endpoint), headers={"Authorization": f"Bearer {user.token}", **(headers or {})}, timeout=10)


def close_session(endpoint, response: requests.Response, user) -> None:
    sid = json.loads(response.text[1:])["sid"]
    requests.post(eio(endpoint, sid), data="1", headers={"Authorization": f"Bearer {user.token}"}, timeout=10)


@pytest.fixture(scope="module")
def capped(stack, tmp_path_factory):
    inst = Instance(stack, tmp_path_factory.mktemp("capped") / "serve.log",
                    MAX_CONNECTIONS_PER_ADDRESS="3", MAX_CONNECTIONS_PER_USER="2", TRUSTED_PROXIES="127.0.0.9")
    yield inst
    inst.stop()


def test_connections_per_user_are_capped_and_freed_on_close(capped, api):
    user = new_user(api)
    first, second = handshake_from(capped, fresh_source_ip(), user), handshake_from(capped, fresh_source_ip(), user)
    assert first.status_code == 200 and second.status_code == 200
    third = handshake_from(capped, fresh_source_ip(), user)
    assert third.status_code == 403
    assert third.json() == {"code": 4, "message": "Too many connections for this account"}
    ws = websocket.WebSocket()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        ws.connect(f"{capped.ws_url}/socket.io/?EIO=4&transport=websocket", header=[f"Authorization: Bearer {user.token}"],
                   suppress_origin=True, timeout=10)
    assert refused.value.status_code == 403
    close_session(capped, first, user)
    assert handshake_from(capped, fresh_source_ip(), user).status_code == 200


def test_connections_per_address_are_capped(capped, api):
    address = fresh_source_ip()
    users = [new_user(api) for _ in range(4)]
    opened = [handshake_from(capped, address, u) for u in users[:3]]
    assert [r.status_code for r in opened] == [200, 200, 200]
    over = handshake_from(capped, address, users[3])
    assert over.status_code == 403
    assert over.json() == {"code": 4, "message": "Too many connections from this address"}
    assert handshake_from(capped, fresh_source_ip(), users[3]).status_code == 200
    # A WebSocket counts like a polling session, and closing it frees its slot.
    close_session(capped, opened[0], users[0])
    ws = websocket.create_connection(f"{capped.ws_url}/socket.io/?EIO=4&transport=websocket",
                                     header=[f"Authorization: Bearer {users[3].token}"], suppress_origin=True, timeout=10,
                                     source_address=(address, 0))
    assert handshake_from(capped, address, users[3]).status_code == 403
    ws.close()
    deadline = time.monotonic() + 5
    while handshake_from(capped, address, users[2]).status_code != 200:
        assert time.monotonic() < deadline, "the closed WebSocket's slot was not given back"
        time.sleep(0.1)


def test_forwarded_for_counts_only_from_a_trusted_proxy(capped, api):
    """TRUSTED_PROXIES=127.0.0.9 here: its X-Forwarded-For names the client; anyone else's is ignored."""
    users = [new_user(api) for _ in range(4)]
    via_proxy = [handshake_from(capped, "127.0.0.9", u, {"X-Forwarded-For": "203.0.113.7"}) for u in users[:3]]
    assert [r.status_code for r in via_proxy] == [200, 200, 200]
    assert handshake_from(capped, "127.0.0.9", users[3], {"X-Forwarded-For": "203.0.113.7"}).status_code == 403
    assert handshake_from(capped, "127.0.0.9", users[3], {"X-Forwarded-For": "203.0.113.8"}).status_code == 200
    # An untrusted peer cannot move itself into a fresh bucket with the header.
    address = fresh_source_ip()
    direct = [handshake_from(capped, address, u, {"X-Forwarded-For": f"198.51.100.{n}"}) for n, u in enumerate(users[:3])]
    assert [r.status_code for r in direct] == [200, 200, 200]
    assert handshake_from(capped, address, users[3], {"X-Forwarded-For": "198.51.100.99"}).status_code == 403


# --- 4. passwords --------------------------------------------------------------------------

def test_a_nul_in_a_password_is_refused(stack, api):
    for password in ("pass\u0000word123", "password\u0007bell", "password\nnewline", "password\u0085next"):
        r = api.post("/auth/register", json={"email": unique_email(), "name": "Nul", "password": password})
        assert_error(r, 400, "INVALID_INPUT")
        assert "password" in r.json()["error"]["message"]


def test_a_prefix_cut_short_by_bcrypt_never_signs_in(stack, api):
    user = register(api, password="prefix-password-1")
    for attempt in ("prefix-password-1\u0000anything", "prefix-password-1\u0000"):
        r = api.post("/auth/login", json={"email": user.email, "password": attempt}, source_ip=fresh_source_ip())
        assert r.status_code != 200, f"{attempt!r} signed in"
        assert_error(r, 400, "INVALID_INPUT")
    longest = register(api, password="x" * 72)
    r = api.post("/auth/login", json={"email": longest.email, "password": "x" * 72 + "tail"}, source_ip=fresh_source_ip())
    assert r.status_code != 200, "a password past bcrypt's 72 bytes signed in"
    assert login(api, longest).token


# --- 5. what the database would refuse is a 400 ------------------------------------------------

@pytest.mark.parametrize("field,value", [
    ("name", "Nul\u0000Byte"),
    ("name", "\U0001F1EB\U0001F1F7" * 51),  # 51 flags: 51 graphemes, 102 code points
    ("email", "nul\u0000@service-test.example"),
    ("name", "bell\u0007"),
])
def test_registration_input_postgres_would_refuse_is_400(stack, api, field, value):
    body = {"email": unique_email(), "name": "Fine Name", "password": "long enough password"}
    body[field] = value
    r = api.post("/auth/register", json=body)
    assert_error(r, 400, "INVALID_INPUT")
    assert f"'{field}'" in r.json()["error"]["message"]


@pytest.mark.parametrize("field,value", [
    ("title", "Nul\u0000Title"),
    ("title", "\U0001F1EB\U0001F1F7" * 101),  # 202 code points > 200
    ("description", "Nul\u0000Description"),
])
def test_item_input_postgres_would_refuse_is_400(stack, api, field, value):
    seller = new_user(api)
    body = {"title": "Fine", "description": "fine", "startingPrice": 100, "minIncrement": 10,
            "endsAt": rfc3339(now_utc() + timedelta(days=1))}
    body[field] = value
    r = api.post("/items", json=body, token=seller.token)
    assert_error(r, 400, "INVALID_INPUT")
    assert f"'{field}'" in r.json()["error"]["message"]


def test_a_nul_in_a_login_email_is_400(stack, api):
    r = api.post("/auth/login", json={"email": "a\u0000@b.example", "password": "long enough password"}, source_ip=fresh_source_ip())
    assert_error(r, 400, "INVALID_INPUT")


def test_a_nul_in_a_client_bid_id_is_invalid_payload(stack, api, sio):
    bidder, seller = new_user(api), new_user(api)
    item = new_item(api, seller, starting=100, increment=10)
    c = sio(token=bidder.token).connect(item_id=item["id"])
    for bad in ("nul\u0000id", "\u0007", "\U0001F1EB\U0001F1F7" * 33):  # 66 code points > 64
        ack = c.bid(item["id"], 100, client_bid_id=bad)
        assert ack["ok"] is False and ack["error"]["code"] == "INVALID_PAYLOAD", (bad, ack)
    assert api.get(f"/items/{item['id']}/bids").json() == []
    assert c.bid(item["id"], 100, client_bid_id="fine-id")["ok"] is True


# --- 6. session records per user ---------------------------------------------------------------

def session_keys_of(stack, user_id: str) -> int:
    script = ("local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do "
              "if redis.call('GET', k) == ARGV[2] then n = n + 1 end end return n")
    return int(stack.redis_cli("EVAL", script, "0", "auction:session:*", user_id).strip())


def test_a_thousand_handshakes_leave_at_most_the_cap_of_session_records(stack, api):
    user = new_user(api)
    bearer = {"Authorization": f"Bearer {user.token}"}
    for _ in range(1000):
        r = polling_handshake(stack, bearer, close=True)
        assert r.status_code == 200, r.text
    held = session_keys_of(stack, user.id)
    assert 1 <= held <= 8, f"{held} session records for one user"
    # The newest session still resolves; the ones dropped do not.
    r = polling_handshake(stack, bearer, close=True)
    newest = [c for c in r.headers.get("Set-Cookie", "").split(";") if c.strip().startswith("session_id=")]
    assert newest, r.headers
    value = newest[0].strip().split("=", 1)[1]
    assert stack.redis_cli("GET", f"auction:session:{value}").strip() == user.id


def test_session_ids_keep_at_least_128_random_bits(stack, api):
    user = new_user(api)
    seen = set()
    for _ in range(20):
        r = polling_handshake(stack, {"Authorization": f"Bearer {user.token}"}, close=True)
        line = next(c for c in r.headers["Set-Cookie"].split(",") if "session_id=" in c)
        value = line.split("session_id=", 1)[1].split(";", 1)[0]
        assert len(value) * 4 >= 128 and all(ch in "0123456789abcdef" for ch in value)
        seen.add(value)
    assert len(seen) == 20


def test_a_live_polling_session_outlives_its_record_dropped_for_the_cap(stack, api):
    """The oldest session record goes when a user opens a ninth; a polling session opened with it
    still proves whose it is with its cookie (the instance remembers the cookies it issued)."""
    user, seller = new_user(api), new_user(api)
    item = new_item(api, seller)
    tab = PollingTab(stack, user, item["id"])
    try:
        cookie = tab.http.cookies.get("session_id")
        for _ in range(10):
            assert polling_handshake(stack, {"Authorization": f"Bearer {user.token}"}, close=True).status_code == 200
        assert stack.redis_cli("EXISTS", f"auction:session:{cookie}").strip() == "0", "the record was not dropped"
        tab.bid_with_cookie_only(cookie, item["id"], 100, ack_id=14)
    finally:
        tab.close()
