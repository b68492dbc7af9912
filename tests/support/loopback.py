"""Free loopback ports, and distinct loopback source addresses for clients (the service limits
logins per client address; nginx hashes on it)."""

from __future__ import annotations

import itertools
import random
import socket
from typing import Callable

from requests.adapters import HTTPAdapter


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = open("/proc/sys/net/ipv4/ip_local_port_range").read().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


_picker = random.Random()


def free_port() -> int:
    """A loopback port nothing listens on, drawn below the kernel's ephemeral range: a port the
    kernel handed out (`bind(0)`) is also what it gives the next outgoing connection as its local
    port, and a server started there — or restarted there by a test — then finds it taken.
    Ports in [10000, ephemeral low) are never given to outgoing connections."""
    low, _ = _ephemeral_range()
    if low > 11000:
        for _ in range(200):
            port = _picker.randrange(10000, low)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            if not port_open(port):
                return port
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
