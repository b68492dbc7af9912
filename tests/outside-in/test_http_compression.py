"""httpCompression (Node's default: on, 1 KiB threshold): a polling answer over the threshold is
gzip- or deflate-encoded as the request's Accept-Encoding prefers, smaller ones and requests
that accept neither get it as it is. test_http_compression_off.py has the option off."""

import gzip
import json
import zlib

import pytest
import requests

from sio_helpers import WAIT, eio_url, polling_handshake

BIG = "€" * 1000  # 3,000 bytes of UTF-8: past the threshold


def connected_session(server) -> str:
    """A polling session connected to "/", its CONNECT reply and welcome fetched."""
    sid, _ = polling_handshake(server)
    assert requests.post(eio_url(server, EIO="4", transport="polling", sid=sid), data="40", timeout=WAIT).text == "ok"
    got = requests.get(eio_url(server, EIO="4", transport="polling", sid=sid), timeout=WAIT).text
    assert got.startswith("40"), got
    if "welcome" not in got:
        requests.get(eio_url(server, EIO="4", transport="polling", sid=sid), timeout=WAIT)
    return sid


def echoed(server, text: str, accept_encoding: str | None) -> requests.Response:
    """The raw (still encoded) answer of the GET that brings back the server's echo of `text`."""
    sid = connected_session(server)
    packet = "42" + json.dumps(["echo", text])
    assert requests.post(eio_url(server, EIO="4", transport="polling", sid=sid), data=packet.encode(),
                         timeout=WAIT).text == "ok"
    headers = {"Accept-Encoding": accept_encoding} if accept_encoding is not None else {"Accept-Encoding": ""}
    r = requests.get(eio_url(server, EIO="4", transport="polling", sid=sid), headers=headers, timeout=WAIT, stream=True)
    r.raw_body = r.raw.read(decode_content=False)
    return r


def expected_packet(text):
    return "42" + json.dumps(["echo", text], ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("accept, coding, decode", [
    ("gzip", "gzip", gzip.decompress),
    ("gzip, deflate, br", "gzip", gzip.decompress),
    ("deflate", "deflate", zlib.decompress),
    ("gzip;q=0.5, deflate", "deflate", zlib.decompress),
    ("*", "gzip", gzip.decompress),
])
def test_a_big_polling_answer_is_compressed_as_the_client_prefers(server, accept, coding, decode):
    r = echoed(server, BIG, accept)
    assert r.headers.get("Content-Encoding") == coding, r.headers
    assert "Accept-Encoding" in r.headers.get("Vary", "")
    assert int(r.headers["Content-Length"]) == len(r.raw_body) < len(expected_packet(BIG).encode())
    assert decode(r.raw_body).decode() == expected_packet(BIG)


@pytest.mark.parametrize("accept", [None, "identity", "br", "gzip;q=0, deflate;q=0"])
def test_no_acceptable_coding_means_no_compression(server, accept):
    r = echoed(server, BIG, accept)
    assert "Content-Encoding" not in r.headers, r.headers
    assert r.raw_body.decode() == expected_packet(BIG)


def test_a_small_answer_is_not_compressed(server):
    r = echoed(server, "small", "gzip")
    assert "Content-Encoding" not in r.headers
    assert r.raw_body.decode() == expected_packet("small")
