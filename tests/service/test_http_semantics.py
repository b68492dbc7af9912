"""Security headers on every kind of response, and HTTP semantics: HEAD for every GET route, 405
with `Allow` for a wrong method on an existing path, 431/400 with a JSON body and a closed
connection for requests the HTTP parser refuses — after which the server still answers."""

from __future__ import annotations

import http.client
import json
import socket

import pytest
import requests

from service_helpers import assert_error, new_item, new_user, polling_handshake

PAGE_CSP_DIRECTIVES = {
    "default-src": "'none'",
    "connect-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "object-src": "'none'",
    "form-action": "'self'",
}
NON_DOCUMENT_CSP = "default-src 'none'; frame-ancestors 'none'"
REFERRER_POLICY = "same-origin"


@pytest.fixture(scope="module")
def item(api):
    """An auction (the room page and the item routes need one)."""
    return new_item(api, new_user(api, name="Semantics Seller"))


def csp_directives(value: str) -> dict[str, str]:
    directives = {}
    for part in value.split(";"):
        name, _, sources = part.strip().partition(" ")
        if name:
            directives[name] = sources.strip()
    return directives


def assert_page_headers(r: requests.Response) -> None:
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("text/html"), r.headers
    csp = csp_directives(r.headers.get("Content-Security-Policy", ""))
    for name, sources in PAGE_CSP_DIRECTIVES.items():
        assert csp.get(name) == sources, f"{name}: {csp}"
    scripts = csp.get("script-src", "").split()
    assert "'self'" in scripts, csp
    # No inline or eval'd script, and no whole-scheme sources.
    assert not [s for s in scripts if s.startswith("'unsafe") or s.endswith(":")], csp
    assert r.headers.get("X-Frame-Options") == "DENY", r.headers
    assert r.headers.get("X-Content-Type-Options") == "nosniff", r.headers
    assert r.headers.get("Referrer-Policy") == REFERRER_POLICY, r.headers


def assert_non_document_headers(r: requests.Response) -> None:
    assert r.headers.get("X-Content-Type-Options") == "nosniff", r.headers
    assert r.headers.get("Content-Security-Policy") == NON_DOCUMENT_CSP, r.headers
    assert r.headers.get("Referrer-Policy") == REFERRER_POLICY, r.headers


# --- security headers ------------------------------------------------------------------------

def test_the_home_page_has_the_page_headers(api):
    assert_page_headers(api.get("/", headers={"Accept": "text/html"}))


def test_the_auction_room_page_has_the_page_headers(api, item):
    r = api.get(f"/items/{item['id']}", headers={"Accept": "text/html"})
    assert_page_headers(r)
    # Without a local client file the page loads the CDN copy: the CSP allows exactly that file.
    if "cdn.socket.io" in r.text:
        assert "https://cdn.socket.io/4.8.1/socket.io.min.js" in csp_directives(r.headers["Content-Security-Policy"])["script-src"]


def test_json_answers_and_json_errors_have_the_restrictive_headers(api, item):
    for r in (api.get("/items"), api.get(f"/items/{item['id']}"), api.get("/healthz"), api.get("/auth/me"),
              api.get("/no-such-page")):
        assert r.headers["Content-Type"].startswith("application/json"), (r.url, r.headers)
        assert_non_document_headers(r)


def test_a_static_asset_is_not_sniffed(api):
    for path in ("/static/app.js", "/static/app.css", "/static/favicon.svg"):
        r = api.get(path)
        assert r.status_code == 200, path
        assert_non_document_headers(r)


def test_engineio_polling_answers_are_not_sniffed(stack, api):
    r = polling_handshake(stack, new_user(api).bearer, close=True)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers
    assert r.headers.get("X-Content-Type-Options") == "nosniff", r.headers
    refused = polling_handshake(stack, {})
    assert refused.status_code == 403
    assert refused.headers.get("X-Content-Type-Options") == "nosniff", refused.headers


# --- HEAD ------------------------------------------------------------------------------------

def test_head_healthz_is_200_with_the_headers_of_get_and_no_body(stack, api):
    get = api.get("/healthz")
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
    try:
        conn.request("HEAD", "/healthz")
        head = conn.getresponse()
        assert head.status == 200
        assert head.read() == b""
        assert head.getheader("Content-Type") == get.headers["Content-Type"]
        assert head.getheader("Content-Length") == get.headers["Content-Length"]
        assert head.getheader("X-Content-Type-Options") == "nosniff"
        # The same connection answers next: no body bytes were left behind the HEAD answer.
        conn.request("GET", "/healthz")
        again = conn.getresponse()
        assert again.status == 200 and json.loads(again.read()) == {"status": "ok"}
    finally:
        conn.close()


def test_head_on_other_get_routes(api, item):
    for path in ("/items", f"/items/{item['id']}", f"/items/{item['id']}/bids", "/static/app.js", "/"):
        r = api.call("HEAD", path)
        assert r.status_code == 200, (path, r.status_code)
        assert r.content == b"", path
    assert api.call("HEAD", "/items/999999999").status_code == 404


# --- 405 / 404 -------------------------------------------------------------------------------

def test_put_items_is_405_with_allow(api):
    r = api.call("PUT", "/items", json={})
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert r.headers.get("Allow") == "GET, HEAD, OPTIONS, POST", r.headers
    assert_non_document_headers(r)


def test_delete_healthz_is_405_with_allow(api):
    r = api.call("DELETE", "/healthz")
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert r.headers.get("Allow") == "GET, HEAD, OPTIONS", r.headers


def test_wrong_methods_on_paths_with_parameters(api, item):
    r = api.call("PATCH", f"/items/{item['id']}")
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert r.headers.get("Allow") == "GET, HEAD, OPTIONS"
    r = api.call("GET", "/auth/login")
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert r.headers.get("Allow") == "OPTIONS, POST"


def test_query_method_is_405_with_allow(api):
    """Found by schemathesis: QUERY (the HTTP WG's safe method with a body) was 404 on existing paths."""
    r = api.call("QUERY", "/items", json={})
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert r.headers.get("Allow") == "GET, HEAD, OPTIONS, POST", r.headers
    assert_error(api.call("QUERY", "/auth/me"), 405, "METHOD_NOT_ALLOWED")


def test_options_on_an_existing_path_lists_its_methods(api):
    r = api.call("OPTIONS", "/items")
    assert r.status_code == 204, r.text
    assert r.headers.get("Allow") == "GET, HEAD, OPTIONS, POST"


def test_unknown_paths_stay_404(api):
    for method in ("GET", "PUT", "DELETE", "HEAD"):
        r = api.call(method, "/no-such-path")
        assert r.status_code == 404, method
        assert "Allow" not in r.headers, method
        if method != "HEAD":
            assert_error(r, 404, "NOT_FOUND")


# --- 431 / 400 on raw sockets ----------------------------------------------------------------

def exchange(stack, data: bytes, timeout: float = 10) -> bytes:
    """Sends `data`, then reads until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def parse_responses(raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Splits a stream of HTTP/1.1 responses with Content-Length into (status, headers, body)."""
    out = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, f"incomplete response: {raw[:300]!r}"
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        out.append((status, headers, rest[:length]))
        raw = rest[length:]
    return out


def assert_refused_and_closed(stack, raw: bytes, status: int, code: str) -> None:
    responses = parse_responses(raw)
    assert len(responses) == 1, responses
    got, headers, body = responses[0]
    assert got == status, (got, headers, body)
    assert headers.get("connection") == "close", headers
    assert headers.get("content-type", "").startswith("application/json"), headers
    assert json.loads(body)["error"]["code"] == code, body
    assert_still_serving(stack)


def assert_still_serving(stack) -> None:
    r = requests.get(f"{stack.url}/healthz", timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_a_64_kib_header_is_431_and_the_connection_closed(stack):
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n"
    assert_refused_and_closed(stack, exchange(stack, big), 431, "HEADERS_TOO_LARGE")


def test_content_length_with_transfer_encoding_is_400(stack):
    smuggle = (b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert_refused_and_closed(stack, exchange(stack, smuggle), 400, "MALFORMED_REQUEST")


def test_content_length_with_transfer_encoding_is_400_on_the_engineio_path(stack):
    smuggle = (b"POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert_refused_and_closed(stack, exchange(stack, smuggle), 400, "MALFORMED_REQUEST")


def test_a_garbage_request_line_is_400(stack):
    assert_refused_and_closed(stack, exchange(stack, b"HELLO THERE\x01\r\n\r\n"), 400, "MALFORMED_REQUEST")


def test_a_bad_request_behind_a_good_one_is_answered_after_it(stack):
    """Both in one write: the first answer is complete, then the 400, then the close."""
    raw = exchange(stack, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    responses = parse_responses(raw)
    assert [status for status, _, _ in responses] == [200, 400], responses
    assert json.loads(responses[0][2]) == {"status": "ok"}
    assert json.loads(responses[1][2])["error"]["code"] == "MALFORMED_REQUEST"
    assert_still_serving(stack)
