"""Connection state recovery in the auction (SOCKETIO_RECOVERY_SECONDS), frame by frame with a
raw WebSocket client: a tab whose connection drops comes back with the same socket id, the bids it
missed before its CONNECT reply, in order, and no `auction:state` again; on one instance (no Redis:
the in-process adapter) and across two instances on the streams adapter. A pid is not a
credential: another user presenting it gets a new socket and none of the first user's events, and
so does a tab that comes back after the recovery window."""

from __future__ import annotations

import json
import time

import pytest

from service_helpers import Instance, new_item, new_user
from support.raw_socketio import RawSocketIO


@pytest.fixture
def instances(stack, tmp_path, request):
    made: list[Instance] = []

    def make(name: str, **env: str) -> Instance:
        inst = Instance(stack, tmp_path / f"{name}.log", **env)
        made.append(inst)
        return inst

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for inst in made:
        if failed:
            print(f"--- {inst.log_path.name}\n{inst.log_text()}")
        inst.stop()


def tab(instance, user, auth: dict) -> RawSocketIO:
    return RawSocketIO(instance.ws_url, auth, headers={"Authorization": f"Bearer {user.token}"}, timeout=10)


def names(frames: list[str]) -> list[str]:
    return [json.loads(f[2:])[0] for f in frames if f.startswith("42[")]


def bid_ids(frames: list[str]) -> list[str]:
    return [json.loads(f[2:])[1]["bid"]["id"] for f in frames if f.startswith('42["bid",')]


def first_connection(instance, user, item_id: str):
    """A tab connected to the item: its socket id, pid and the offset of the last event it got."""
    t = tab(instance, user, {"itemId": item_id})
    _, reply = t.connect_reply()
    assert set(reply) == {"sid", "pid"}, f"recovery is on: the CONNECT reply must carry a pid, got {reply}"
    state = t.event("auction:state")
    assert isinstance(state[-1], str), f"events end with their offset, got {state!r}"
    return t, reply, state[-1]


def place(instance, bidder, item_id: str, prices: list[int]) -> list[str]:
    """Bids from another tab; the ids of the accepted ones, in order."""
    t = tab(instance, bidder, {"itemId": item_id})
    t.connect_reply()
    ids = []
    for price in prices:
        ack = t.call("bid", {"itemId": item_id, "price": price})
        assert ack.get("ok") is True, ack
        ids.append(ack["bid"]["id"])
    t.close()
    return ids


def come_back(first, second, user, item_id: str, pid: str, offset: str, *, bidder, more_price: int):
    """Reconnects with {pid, offset}; returns (frames before CONNECT, CONNECT payload, frames after
    CONNECT up to and including the bid placed afterwards as a marker)."""
    t = tab(second, user, {"itemId": item_id, "pid": pid, "offset": offset})
    before, reply = t.connect_reply()
    marker = place(first, bidder, item_id, [more_price])[0]
    after = t.until(lambda f: f.startswith('42["bid",') and json.loads(f[2:])[1]["bid"]["id"] == marker)
    t.close()
    return before, reply, after, marker


@pytest.mark.parametrize("setup", ["one instance", "two instances on streams"])
def test_a_dropped_tab_recovers_with_its_missed_bids_and_no_state_reload(stack, api, instances, setup):
    if setup == "one instance":
        first = second = instances("alone", redis=False)
    else:
        first = instances("one", SOCKETIO_ADAPTER="streams")
        second = instances("two", SOCKETIO_ADAPTER="streams")
    seller, watcher, bidder = (new_user(api, name=n) for n in ("Rec Seller", "Rec Watcher", "Rec Bidder"))
    item = new_item(api, seller, starting=100, increment=10)
    t, reply, offset = first_connection(first, watcher, item["id"])
    t.drop()
    time.sleep(0.5)  # the server notices the closed connection and keeps the socket
    missed = place(first, bidder, item["id"], [100, 110, 120])

    before, again, after, marker = come_back(first, second, watcher, item["id"], reply["pid"], offset,
                                             bidder=bidder, more_price=130)
    assert again["sid"] == reply["sid"], f"the same socket comes back: {reply} then {again}"
    assert bid_ids(before) == missed, f"the missed bids, once each and in order, before CONNECT: {before}"
    assert all(isinstance(json.loads(f[2:])[-1], str) for f in before), f"replayed events carry offsets: {before}"
    assert names(after) == ["bid"] and bid_ids(after) == [marker], \
        f"after CONNECT: no auction:state again, then the next bid only: {after}"


def test_another_users_pid_gets_a_new_socket_and_nothing_of_the_owner(stack, api, instances):
    server = instances("guarded", redis=False)
    seller, owner, thief, bidder = (new_user(api, name=n) for n in ("G Seller", "G Owner", "G Thief", "G Bidder"))
    item = new_item(api, seller, starting=100, increment=10)
    t, reply, offset = first_connection(server, owner, item["id"])
    t.drop()
    time.sleep(0.5)
    place(server, bidder, item["id"], [100, 110])

    before, again, after, marker = come_back(server, server, thief, item["id"], reply["pid"], offset,
                                             bidder=bidder, more_price=120)
    assert again["sid"] != reply["sid"], "another user's token must not take the kept socket"
    assert before == [], f"nothing of the owner's socket is replayed to another user: {before}"
    state = [json.loads(f[2:])[1] for f in after if f.startswith('42["auction:state",')]
    assert len(state) == 1 and state[0]["you"]["name"] == "G Thief", \
        f"a new socket gets its own state, as the thief: {after}"
    # The owner still recovers: the refused attempt did not consume the kept socket.
    before, back, _, _ = come_back(server, server, owner, item["id"], reply["pid"], offset,
                                   bidder=bidder, more_price=130)
    assert back["sid"] == reply["sid"] and len(bid_ids(before)) == 3, (back, before)


def test_a_tab_back_after_the_window_gets_a_new_socket_and_its_state(stack, api, instances):
    server = instances("short", redis=False, SOCKETIO_RECOVERY_SECONDS="1")
    seller, watcher, bidder = (new_user(api, name=n) for n in ("W Seller", "W Watcher", "W Bidder"))
    item = new_item(api, seller, starting=100, increment=10)
    t, reply, offset = first_connection(server, watcher, item["id"])
    t.drop()
    place(server, bidder, item["id"], [100])
    time.sleep(2.5)
    before, again, after, _ = come_back(server, server, watcher, item["id"], reply["pid"], offset,
                                        bidder=bidder, more_price=110)
    assert again["sid"] != reply["sid"] and before == [], (reply, again, before)
    assert names(after)[0] == "auction:state", f"a new socket gets auction:state: {after}"


def test_recovery_off_sends_no_pid_and_no_offsets(stack, api, instances):
    server = instances("off", redis=False, SOCKETIO_RECOVERY_SECONDS="0")
    seller, watcher = new_user(api, name="Off Seller"), new_user(api, name="Off Watcher")
    item = new_item(api, seller)
    t = tab(server, watcher, {"itemId": item["id"]})
    _, reply = t.connect_reply()
    assert set(reply) == {"sid"}, reply
    state = t.event("auction:state")
    assert len(state) == 1 and isinstance(state[0], dict), f"no offset after the state: {state!r}"
    t.close()
