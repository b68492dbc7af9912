"""SIGTERM/SIGINT on `auction serve`: stop accepting (a handshake after the signal is refused),
close Socket.IO sessions with a close packet, finish in-flight bids (a bid waiting for its
item's lock when the signal comes is committed and acked, before its socket's close packet),
exit 0. Runs another instance (same database, its own port) so the session's main instance is
not disturbed."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
import requests
import websocket

from service_helpers import ACK, ENGINE_CLOSE, Instance, SioClient, assert_ok_ack, new_item, new_user, wait_until


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_closes_sessions_and_exits_0(api, stack, tmp_path, sig):
    seller = new_user(api, name="Shutdown Seller")
    item = new_item(api, seller)
    inst = Instance(stack, tmp_path / "second.log")
    clients = []
    try:
        for transports in (["websocket"], ["polling"]):
            c = SioClient(inst, token=seller.token)
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
        for n, c in enumerate(clients):
            assert c.saw(ENGINE_CLOSE, timeout=5), \
                f"client {n} got no Engine.IO close packet before the instance exited: {[(r.name, str(r.data)[:60]) for r in c.received]} connected={c.sio.connected}"
        # The bid made before the signal is stored.
        assert len(api.get(f"/items/{item['id']}/bids").json()) == 1
        assert status == 0, f"{sig.name}: expected exit status 0, got {status}; log tail:\n{inst.log_text(1500)}"
    finally:
        for c in clients:
            c.close()
        inst.stop()


class AdvisoryLock:
    """The PostgreSQL advisory lock the ledger takes on an item before deciding a bid
    (`pg_advisory_lock(<item id>)`, Sources/AuctionServer/Storage/BidLedger.swift), held by a psql
    session of the test, so that a bid stays in flight exactly as long as the test wants."""

    def __init__(self, stack, key: int):
        self.stack, self.key = stack, key
        self.proc = subprocess.Popen(["psql", stack.database_url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.proc.stdin.write(f"SELECT pg_advisory_lock({key});\n")
        self.proc.stdin.flush()
        assert wait_until(lambda: self.holders(granted=True) == 1, timeout=10), "psql did not get the advisory lock"

    def holders(self, granted: bool) -> int:
        # A bigint key k is classid = k >> 32, objid = k & 0xffffffff, objsubid = 1.
        return int(self.stack.psql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
            f" AND classid = {self.key >> 32} AND objid = {self.key & 0xFFFFFFFF} AND granted = {str(granted).lower()}"))

    def release(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write(f"SELECT pg_advisory_unlock({self.key});\n\\q\n")
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_sigterm_refuses_new_handshakes_and_finishes_the_bid_in_flight(api, stack, tmp_path, transport):
    seller = new_user(api, name="In-flight Seller")
    bidder = new_user(api, name="In-flight Ivy")
    item = new_item(api, seller, starting=500)
    inst = Instance(stack, tmp_path / "second.log")
    # An idle watcher, whose close packet shows that shutdown began.
    c = SioClient(inst, token=bidder.token)
    watcher = SioClient(inst, token=seller.token)
    lock = None
    try:
        c.connect(item_id=item["id"], transports=[transport])
        watcher.connect(item_id=item["id"], transports=["websocket"])
        lock = AdvisoryLock(stack, int(item["id"]))
        # The ack is read off the receive path (python-socketio drops callbacks when the session closes).
        c.sio.emit("bid", {"itemId": item["id"], "price": 500, "clientBidId": "in-flight-1"}, callback=lambda *a: None)
        # In flight: the instance waits for the item's lock (one waiter in pg_locks).
        assert wait_until(lambda: lock.holders(granted=False) == 1, timeout=10), \
            "the bid never waited for the item's advisory lock"

        inst.proc.send_signal(signal.SIGTERM)
        assert watcher.saw(ENGINE_CLOSE, timeout=10), "the idle polling session got no close packet after SIGTERM"
        assert inst.proc.poll() is None, "the instance exited with a bid in flight"

        # Stop accepting: new handshakes are refused, polling and WebSocket-first, and no session is made.
        bearer = {"Authorization": f"Bearer {bidder.token}"}
        r = requests.get(f"{inst.url}/socket.io/?EIO=4&transport=polling", headers=bearer, timeout=10)
        assert r.status_code == 403, f"a polling handshake after SIGTERM must be refused: {r.status_code} {r.text[:200]}"
        assert '"sid"' not in r.text
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(f"{inst.ws_url}/socket.io/?EIO=4&transport=websocket",
                                        header=[f"Authorization: Bearer {bidder.token}"], suppress_origin=True,
                                        timeout=10).close()
        assert refused.value.status_code == 403, refused.value
        assert c.events(ACK) == [], "the bid was answered while its item's lock was held"

        # Finish in-flight bids: released, the bid is committed and acked, then the socket is closed.
        lock.release()
        ack = c.wait_event(ACK, timeout=10)
        packets = [(r.name, str(r.data)[:80]) for r in c.received]
        assert ack is not None, f"the bid in flight at SIGTERM was never acked; the bidder got {packets}"
        bid = assert_ok_ack(ack["args"][0])
        assert bid["price"] == 500 and bid["bidder"]["id"] == bidder.id
        if transport == "websocket":
            assert c.saw(ENGINE_CLOSE, timeout=5), f"the bidder's session got no close packet: {packets}"
        else:
            # A polling session closed while no GET of it is held has no answer to carry the close
            # packet; its next GET finds no session. Either way the client is disconnected.
            assert wait_until(lambda: c.saw(ENGINE_CLOSE, timeout=0) or not c.sio.connected, timeout=5), \
                f"the bidder's polling session was not ended: {packets}"
        order = [r.name for r in c.received if r.name in (ACK, ENGINE_CLOSE)]
        assert order in ([ACK, ENGINE_CLOSE], [ACK]), f"the ack must come before the close packet: {order}"
        try:
            status = inst.proc.wait(15)
        except subprocess.TimeoutExpired:
            pytest.fail("auction serve did not exit within 15 s of the bid's end")
        assert status == 0, f"expected exit status 0, got {status}; log tail:\n{inst.log_text(1500)}"
        stored = api.get(f"/items/{item['id']}/bids").json()
        assert [b["id"] for b in stored] == [bid["id"]], f"the acked bid must be stored, once: {stored}"
    finally:
        if lock is not None:
            lock.release()
        c.close()
        watcher.close()
        inst.stop()
