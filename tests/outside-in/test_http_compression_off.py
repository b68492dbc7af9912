"""httpCompression off (`--no-http-compression`): big polling answers go as they are, whatever
the client accepts."""

from test_http_compression import BIG, echoed, expected_packet

SERVER_ARGS = ["--no-http-compression"]


def test_nothing_is_compressed_when_compression_is_off(server):
    r = echoed(server, BIG, "gzip, deflate")
    assert "Content-Encoding" not in r.headers, r.headers
    assert r.raw_body.decode() == expected_packet(BIG)
