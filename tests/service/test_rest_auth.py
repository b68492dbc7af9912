"""REST: /auth/register, /auth/login, /auth/logout, /auth/me."""

from __future__ import annotations

import re

import pytest
from service_helpers import (ACCESS_TOKEN_TTL, PASSWORD, User, alg_none_token, assert_error, fresh_source_ip,
                             login, mint_token, new_user, parse_cookie, register, set_cookies, unique_email)


# --- register -------------------------------------------------------------------------------

def test_register_returns_201_with_the_user_and_nothing_else(api):
    email = unique_email("reg")
    r = api.post("/auth/register", json={"email": email, "name": "Reg User", "password": PASSWORD})
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"user"}
    user = body["user"]
    assert set(user) == {"id", "email", "name"}, "user must be exactly {id, email, name} (no password hash)"
    assert isinstance(user["id"], str) and user["id"]
    assert user["email"] == email
    assert user["name"] == "Reg User"


def test_register_email_taken_is_case_insensitive(api):
    local = unique_email("Case")
    r1 = api.post("/auth/register", json={"email": local, "name": "First", "password": PASSWORD})
    assert r1.status_code == 201, r1.text
    for variant in (local, local.upper(), local.lower(), local[0].swapcase() + local[1:]):
        r = api.post("/auth/register", json={"email": variant, "name": "Second", "password": PASSWORD})
        assert_error(r, 409, "EMAIL_TAKEN")


@pytest.mark.parametrize("body, why", [
    ('{"email": "x@y.example", "name": "N", "password": "password1"', "truncated JSON"),
    ("not json at all", "not JSON"),
    ("", "empty body"),
    ("[1, 2, 3]", "array instead of object"),
    ('"a string"', "string instead of object"),
    ('{"name": "N", "password": "password1"}', "missing email"),
    ('{"email": "x@y.example", "password": "password1"}', "missing name"),
    ('{"email": "x@y.example", "name": "N"}', "missing password"),
    ('{"email": 5, "name": "N", "password": "password1"}', "email of the wrong type"),
    ('{"email": "x@y.example", "name": ["N"], "password": "password1"}', "name of the wrong type"),
    ('{"email": "x@y.example", "name": "N", "password": 12345678}', "password of the wrong type"),
    ('{"email": null, "name": "N", "password": "password1"}', "null email"),
])
def test_register_malformed_bodies_are_400_invalid_input(api, body, why):
    r = api.post("/auth/register", data=body, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "INVALID_INPUT")


@pytest.mark.parametrize("field, value, why", [
    ("password", "short12", "7 bytes"),
    ("password", "x" * 73, "73 bytes"),
    ("password", "é" * 37, "74 bytes in 37 characters"),
    ("name", "", "empty name"),
    ("name", "n" * 101, "101 characters"),
    ("email", "no-at-sign.example", "no @"),
    ("email", "two@@signs.example", "two @"),
    ("email", "@nolocal.example", "empty local part"),
    ("email", "nodomain@", "empty domain"),
    ("email", "", "empty email"),
])
def test_register_field_rules_are_400_invalid_input(api, field, value, why):
    body = {"email": unique_email("rule"), "name": "Rule", "password": PASSWORD}
    body[field] = value
    r = api.post("/auth/register", json=body)
    assert_error(r, 400, "INVALID_INPUT")


@pytest.mark.parametrize("field, value", [
    ("password", "12345678"),            # 8 bytes
    ("password", "y" * 72),              # 72 bytes
    ("password", "é" * 36),              # 72 bytes
    ("name", "n"),                       # 1 character
    ("name", "n" * 100),                 # 100 characters
])
def test_register_accepts_the_limits(api, field, value):
    body = {"email": unique_email("limit"), "name": "Limit", "password": PASSWORD}
    body[field] = value
    r = api.post("/auth/register", json=body)
    assert r.status_code == 201, r.text
    if field == "password":
        login(api, User(id=r.json()["user"]["id"], email=body["email"], name="Limit", password=value))


def test_register_body_over_64_kib_is_413(api):
    body = '{"email": "big@x.example", "name": "' + "n" * (70 * 1024) + '", "password": "password1"}'
    r = api.post("/auth/register", data=body, headers={"Content-Type": "application/json"})
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")


# --- login ----------------------------------------------------------------------------------

def test_login_returns_token_user_and_a_strict_httponly_cookie(api):
    user = register(api, name="Login Person")
    r = api.post("/auth/login", json={"email": user.email, "password": user.password}, source_ip=fresh_source_ip())
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"accessToken", "tokenType", "expiresIn", "user"}
    assert body["tokenType"] == "Bearer"
    assert body["expiresIn"] == ACCESS_TOKEN_TTL
    assert body["user"] == {"id": user.id, "email": user.email, "name": "Login Person"}
    token = body["accessToken"]
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token), token

    cookies = [parse_cookie(c) for c in set_cookies(r)]
    access = [c for c in cookies if c[0] == "access_token"]
    assert len(access) == 1, f"expected one access_token cookie, got {set_cookies(r)}"
    _, value, attrs = access[0]
    assert value == token
    assert attrs.get("path") == "/"
    assert "httponly" in attrs
    assert attrs.get("samesite", "").lower() == "strict"
    assert attrs.get("max-age") == str(ACCESS_TOKEN_TTL)
    assert "secure" not in attrs, "COOKIE_SECURE is off in this run"

    # The token and the cookie both authenticate.
    me = api.get("/auth/me", token=token)
    assert me.status_code == 200 and me.json() == {"user": body["user"]}
    me = api.get("/auth/me", cookie=f"access_token={token}")
    assert me.status_code == 200 and me.json() == {"user": body["user"]}


def test_login_same_answer_for_unknown_email_and_wrong_password(api):
    user = register(api)
    wrong = api.post("/auth/login", json={"email": user.email, "password": "not-the-password"},
                     source_ip=fresh_source_ip())
    unknown = api.post("/auth/login", json={"email": unique_email("ghost"), "password": "not-the-password"},
                       source_ip=fresh_source_ip())
    assert_error(wrong, 401, "INVALID_CREDENTIALS")
    assert_error(unknown, 401, "INVALID_CREDENTIALS")
    assert wrong.json() == unknown.json()
    assert wrong.headers.get("Content-Type") == unknown.headers.get("Content-Type")
    assert not [c for c in set_cookies(wrong) if c.startswith("access_token=")]
    assert not [c for c in set_cookies(unknown) if c.startswith("access_token=")]


@pytest.mark.parametrize("body", [
    "{", '{"email": "a@b.example"}', '{"password": "password1"}', '{"email": 1, "password": "x"}', "[]",
])
def test_login_malformed_bodies_are_400(api, body):
    r = api.post("/auth/login", data=body, headers={"Content-Type": "application/json"}, source_ip=fresh_source_ip())
    assert_error(r, 400, "INVALID_INPUT")


LOGIN_FAILURES_PER_ACCOUNT = 10     # the service's defaults (README, "Sign-in limits")
LOGIN_FAILURES_PER_ADDRESS = 100
LOGIN_FAILURE_WINDOW = 900


def assert_retry_after(r):
    assert_error(r, 429, "RATE_LIMITED")
    wait = int(r.headers["Retry-After"])
    assert 1 <= wait <= LOGIN_FAILURE_WINDOW, r.headers
    assert not [c for c in set_cookies(r) if c.startswith("access_token=")]


def test_fifty_people_behind_one_address_all_sign_in_within_a_minute(api):
    ip = fresh_source_ip()
    users = [register(api) for _ in range(50)]
    for user in users:
        r = api.post("/auth/login", json={"email": user.email, "password": user.password}, source_ip=ip)
        assert r.status_code == 200, (user.email, r.status_code, r.text)


def test_repeated_wrong_passwords_lock_the_account_with_retry_after(api):
    user = register(api)
    answers = [api.post("/auth/login", json={"email": user.email, "password": "wrong-password"},
                        source_ip=fresh_source_ip()) for _ in range(20)]
    for r in answers[:LOGIN_FAILURES_PER_ACCOUNT]:
        assert_error(r, 401, "INVALID_CREDENTIALS")
    for r in answers[LOGIN_FAILURES_PER_ACCOUNT:]:
        assert_retry_after(r)
    # Locked, the account refuses even its right password, from any address, in any case.
    assert_retry_after(api.post("/auth/login", json={"email": user.email, "password": user.password},
                                source_ip=fresh_source_ip()))
    assert_retry_after(api.post("/auth/login", json={"email": user.email.upper(), "password": user.password},
                                source_ip=fresh_source_ip()))
    # Another account is not affected.
    other = register(api)
    assert api.post("/auth/login", json={"email": other.email, "password": other.password},
                    source_ip=fresh_source_ip()).status_code == 200


def test_an_address_over_its_failure_budget_is_refused_wrong_passwords_not_right_ones(api):
    ip = fresh_source_ip()
    user = register(api)
    # Failures spread over many accounts (credential stuffing) count against the address.
    for _ in range(LOGIN_FAILURES_PER_ADDRESS):
        r = api.post("/auth/login", json={"email": unique_email("stuffing"), "password": "wrong-password"}, source_ip=ip)
        assert_error(r, 401, "INVALID_CREDENTIALS")
    assert_retry_after(api.post("/auth/login", json={"email": unique_email("stuffing"), "password": "wrong-password"},
                                source_ip=ip))
    # A right password from that address still signs in: only failures are limited.
    r = api.post("/auth/login", json={"email": user.email, "password": user.password}, source_ip=ip)
    assert r.status_code == 200, r.text


def test_a_right_password_forgets_the_accounts_failures(api):
    user = register(api)
    for _ in range(LOGIN_FAILURES_PER_ACCOUNT - 1):
        assert_error(api.post("/auth/login", json={"email": user.email, "password": "wrong-password"},
                              source_ip=fresh_source_ip()), 401, "INVALID_CREDENTIALS")
    assert api.post("/auth/login", json={"email": user.email, "password": user.password},
                    source_ip=fresh_source_ip()).status_code == 200
    for _ in range(LOGIN_FAILURES_PER_ACCOUNT - 1):
        assert_error(api.post("/auth/login", json={"email": user.email, "password": "wrong-password"},
                              source_ip=fresh_source_ip()), 401, "INVALID_CREDENTIALS")
    assert api.post("/auth/login", json={"email": user.email, "password": user.password},
                    source_ip=fresh_source_ip()).status_code == 200


# --- me ---------------------------------------------------------------------------------------

def test_me_requires_a_valid_token(api):
    user = new_user(api)
    assert_error(api.get("/auth/me"), 401, "UNAUTHORIZED")
    bad_tokens = {
        "garbage": "garbage",
        "three garbage parts": "a.b.c",
        "forged key": mint_token(user.id, secret="another-secret-of-enough-length-123456"),
        "expired": mint_token(user.id, exp_in=-60),
        "alg none": alg_none_token(user.id),
        "unknown user": mint_token("999999999"),
        "HS512": mint_token(user.id, algorithm="HS512"),
    }
    for why, token in bad_tokens.items():
        assert_error(api.get("/auth/me", token=token), 401, "UNAUTHORIZED")
        assert_error(api.get("/auth/me", cookie=f"access_token={token}"), 401, "UNAUTHORIZED")
    # Control: a token minted the same way with the right key works, so the refusals above are
    # about what is wrong with each token.
    r = api.get("/auth/me", token=mint_token(user.id))
    assert r.status_code == 200, r.text
    assert r.json()["user"]["id"] == user.id


def test_me_refuses_the_token_of_a_deleted_user(api, stack):
    user = new_user(api)
    assert api.get("/auth/me", token=user.token).status_code == 200
    stack.psql(f"DELETE FROM users WHERE id = {int(user.id)}")
    assert_error(api.get("/auth/me", token=user.token), 401, "UNAUTHORIZED")


# --- logout -----------------------------------------------------------------------------------

def test_logout_is_204_and_clears_both_cookies(api):
    user = new_user(api)
    r = api.post("/auth/logout", cookie=f"access_token={user.token}")
    assert r.status_code == 204, r.text
    assert r.content == b""
    cleared = {}
    for line in set_cookies(r):
        name, value, attrs = parse_cookie(line)
        cleared[name] = (value, attrs)
    for name in ("access_token", "session_id"):
        assert name in cleared, f"logout must clear {name}; Set-Cookie: {set_cookies(r)}"
        value, attrs = cleared[name]
        assert value == ""
        assert attrs.get("max-age") == "0"
        assert attrs.get("path") == "/"
        assert "httponly" in attrs
    assert cleared.get("refresh_token", ("?", {}))[1].get("path") == "/auth", set_cookies(r)
    # The page's readable sign of a sign-in goes too, so it stops trying to renew.
    value, attrs = cleared["signed_in"]
    assert value == "" and attrs.get("max-age") == "0" and attrs.get("path") == "/"


def test_logout_without_cookie_is_still_204(api):
    r = api.post("/auth/logout")
    assert r.status_code == 204, r.text
