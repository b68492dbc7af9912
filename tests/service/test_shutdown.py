"""SIGTERM/SIGINT on `auction serve`: stop accepting, close Socket.IO sessions with a close
packet, exit 0. Runs a second instance (same database, its own port) so the session's main
instance is not disturbed."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
import requests

from service_helpers import (ENGINE_CLOSE, REPO_ROOT, SioClient, assert_ok_ack, auction_binary, free_port,
                             new_item, new_user)


class SecondInstance:
    def __init__(self, stack, log_path):
        self.port = free_port()
        env = stack.env()
        env["PORT"] = str(self.port)
        env["CORS_ORIGINS"] = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen([str(auction_binary()), "serve", "--port", str(self.port)], cwd=REPO_ROOT,
                                     env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"second instance exited: {log_path.read_text()}"
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError("second instance did not start")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


class _At:
    """A Stack look-alike pointing SioClient at the second instance."""

    def __init__(self, port):
        self.url = f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_closes_sessions_and_exits_0(api, stack, tmp_path, sig):
    seller = new_user(api, name="Shutdown Seller")
    item = new_item(api, seller)
    inst = SecondInstance(stack, tmp_path / "second.log")
    clients = []
    try:
        for transports in (["websocket"], ["polling"]):
            c = SioClient(_At(inst.port), token=seller.token)
            clients.append(c)
            c.connect(item_id=item["id"], transports=transports)
        assert_ok_ack(clients[0].bid(item["id"], item["startingPrice"]))

        # Let the polling client settle into a held GET: the close packet answers that poll.
        assert clients[1].wait_count("bid", 1), "the polling client must see the bid"
        time.sleep(1.0)
        inst.proc.send_signal(sig)
        try:
            status = inst.proc.wait(15)
        except subprocess.TimeoutExpired:
            pytest.fail(f"auction serve did not exit within 15 s of {sig.name}")
        log = (tmp_path / "second.log").read_text(errors="replace")
        for n, c in enumerate(clients):
            assert c.saw(ENGINE_CLOSE, timeout=5), \
                f"client {n} got no Engine.IO close packet before the instance exited: {[(r.name, str(r.data)[:60]) for r in c.received]} connected={c.sio.connected}"
        # The bid made before the signal is stored.
        assert len(api.get(f"/items/{item['id']}/bids").json()) == 1
        assert status == 0, f"{sig.name}: expected exit status 0, got {status}; log tail:\n{log[-1500:]}"
    finally:
        for c in clients:
            c.close()
        inst.stop()
