"""Free loopback ports, and distinct loopback source addresses for clients (the service limits
logins per client address; nginx hashes on it)."""

from __future__ import annotations

import itertools
import socket
from typing import Callable

from requests.adapters import HTTPAdapter


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Loopback:
    """An HTTP server on 127.0.0.1:`port`, as the REST and Socket.IO helpers reach it."""
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def own_origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class SourceAddressAdapter(HTTPAdapter):
    """Requests of a `requests.Session` leave from this local address."""

    def __init__(self, source: str, **kw):
        self._source = source
        super().__init__(**kw)

    def init_poolmanager(self, *args, **kw):
        kw["source_address"] = (self._source, 0)
        return super().init_poolmanager(*args, **kw)


def source_ips(prefix: str) -> Callable[[], str]:
    """A source of distinct loopback addresses 127.<prefix>.x.y, one per call."""
    counter = itertools.count(1)

    def next_ip() -> str:
        n = next(counter)
        return f"127.{prefix}.{(n // 250) % 250}.{n % 250 + 1}"

    return next_ip


# Logins of every suite: a loopback address not used before in this run.
fresh_source_ip = source_ips("77")
