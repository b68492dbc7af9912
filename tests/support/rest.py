"""REST calls to an `auction serve` (or nginx in front of some): users registered and signed in,
items, error answers, cookies, times as the API writes them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import requests

from support.loopback import SourceAddressAdapter, fresh_source_ip

PASSWORD = "correct horse battery"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


class Api:
    """REST calls to one endpoint: anything with a `url` (a stack, an instance, nginx) or the
    base URL itself."""

    def __init__(self, endpoint):
        self.endpoint = endpoint

    @property
    def url(self) -> str:
        return self.endpoint if isinstance(self.endpoint, str) else self.endpoint.url

    def call(self, method: str, path: str, *, token: str | None = None, cookie: str | None = None,
             source_ip: str | None = None, timeout: float = 15, **kw) -> requests.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if cookie is not None:
            headers["Cookie"] = cookie
        with requests.Session() as s:
            if source_ip:
                s.mount("http://", SourceAddressAdapter(source_ip))
            return s.request(method, self.url + path, headers=headers, timeout=timeout, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.call("POST", path, **kw)


def set_cookies(response) -> list[str]:
    """Every Set-Cookie header line of a requests/urllib3 response, unmerged."""
    raw = getattr(response, "raw", None)
    if raw is not None and hasattr(raw.headers, "getlist"):
        return list(raw.headers.getlist("Set-Cookie"))
    value = response.headers.get("Set-Cookie")
    return [value] if value else []


def parse_cookie(line: str) -> tuple[str, str, dict[str, str]]:
    """'name=value; Path=/; HttpOnly' -> (name, value, {'path': '/', 'httponly': ''})."""
    parts = [p.strip() for p in line.split(";")]
    name, _, value = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip()
    return name.strip(), value.strip(), attrs


def session_cookie(response_or_lines) -> tuple[str, dict[str, str]] | None:
    """(value, attributes) of the `session_id` Set-Cookie of a response (or of header lines)."""
    lines = response_or_lines if isinstance(response_or_lines, list) else set_cookies(response_or_lines)
    for line in lines:
        name, value, attrs = parse_cookie(line)
        if name == "session_id":
            return value, attrs
    return None


def error_code(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("code")
    return None


def assert_error(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status, f"expected {status} {code}, got {response.status_code}: {response.text[:500]}"
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"].get("message"), str) and body["error"]["message"], body


@dataclass
class User:
    id: str
    email: str
    name: str
    password: str
    token: str = ""
    refresh_token: str = ""

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}@service-test.example"


def register(api: Api, name: str | None = None, email: str | None = None, password: str = PASSWORD) -> User:
    email = email or unique_email()
    name = name or f"User {uuid.uuid4().hex[:6]}"
    r = api.post("/auth/register", json={"email": email, "name": name, "password": password})
    assert r.status_code == 201, r.text
    u = r.json()["user"]
    return User(id=u["id"], email=u["email"], name=u["name"], password=password)


def login(api: Api, user: User) -> User:
    """Signs `user` in from a loopback address of its own (logins are limited per address)."""
    r = api.post("/auth/login", json={"email": user.email, "password": user.password}, source_ip=fresh_source_ip())
    assert r.status_code == 200, r.text
    user.token = r.json()["accessToken"]
    user.refresh_token = r.json()["refreshToken"]
    return user


def new_user(api: Api, name: str | None = None) -> User:
    return login(api, register(api, name=name))


def new_item(api: Api, seller: User, *, starting: int = 100, increment: int = 10, ends_in: float = 3600,
             title: str | None = None, description: str = "made by the service suite") -> dict:
    ends_at = now_utc() + timedelta(seconds=ends_in)
    body = {
        "title": title or f"Item {uuid.uuid4().hex[:8]}",
        "description": description,
        "startingPrice": starting,
        "minIncrement": increment,
        "endsAt": rfc3339(ends_at),
    }
    r = api.post("/items", json=body, token=seller.token)
    assert r.status_code == 201, r.text
    return r.json()
