"""test_events.py again, with the server on `--parser msgpack` (socket.io-msgpack-parser's
format) and python-socketio's `serializer="msgpack"`: the same events both ways, acks and binary
payloads. test_msgpack_parser.py has the wire format and bad input."""

from test_events import *  # noqa: F401,F403 - the same tests, collected again under this module's server

SERVER_ARGS = ["--parser", "msgpack"]
CLIENT_OPTIONS = {"serializer": "msgpack"}
