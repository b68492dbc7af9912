"""Connection state recovery in the room page: the page's connection is dropped (not closed: a
TCP proxy between the browser and the instance resets every connection, and refuses new ones
for a while) while Bob bids, then it comes back.

- One instance (the in-process adapter), and two instances on SOCKETIO_ADAPTER=streams with the
  page coming back on the OTHER one: `socket.recovered` is true, the socket id is the one it
  had, the bids placed meanwhile are replayed once each, in order, ahead of `connect`, with no
  auction:state; the page says "reconnected"; live bids and the page's own still arrive once
  (its rooms came back with it).
- Where recovery is not possible (two instances on the classic pub/sub adapter, the page back on
  the other one; one instance restarted, its sessions gone): a new socket whose auction:state
  (auth.lastBidId) holds exactly the bids placed meanwhile; the page says "caught up N missed
  bids"; its feed has every bid once, in order.

Each case has its own instances on the stack's PostgreSQL (and a Redis of their own when they
need one), with the proxy's origin in CORS_ORIGINS, and its own Chromium profile (cookies belong
to the host, so a profile signs in where its instances keep their sign-ins)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
import requests

from browser_helpers import REPORTED, Instance, SioBidder, new_item, wait_until
from support.servers import RedisServer
from support.tcp_proxy import TcpProxy

# The page's connection log (web/static/item.js): connects with socket id and `recovered`,
# disconnects with their reason, state loads and bid events with their ids.
CONNECTION_LOG_JS = "return (window.Auction && window.Auction.connectionLog || []).slice()"

NOTE = "[data-testid=connection-note]"


@dataclass
class Deployment:
    """`auction serve` instances on the stack's PostgreSQL (and `redis`, if any) behind a
    TcpProxy that starts out forwarding to the first one."""

    name: str
    instances: list[Instance]
    proxy: TcpProxy
    redis: RedisServer | None = None

    def logs(self) -> list[tuple[str, str]]:
        sections = []
        for inst in self.instances:
            state = "running" if inst.alive() else f"exited with {inst.proc.returncode if inst.proc else '?'}"
            sections.append((f"{self.name}: {inst.name} on port {inst.port} ({state}), last lines", inst.log_text(12000)))
        if self.redis is not None:
            sections.append((f"{self.name}: redis, last lines", self.redis.log_text(3000)))
        return sections

    def stop(self) -> dict[str, int]:
        early = {}
        self.proxy.stop()
        for inst in self.instances:
            status = inst.stop()
            if status is not None:
                early[inst.name] = status
        if self.redis is not None:
            self.redis.stop()
        return early


def deploy(stack, name: str, count: int, adapter: str | None):
    """A generator for a module fixture: `count` instances, with SOCKETIO_ADAPTER=`adapter` on a
    Redis of their own, or (adapter None) one instance without Redis (the in-process adapter)."""
    instances = [Instance(f"{name}-{n + 1}", stack.workdir, {}) for n in range(count)]
    redis = RedisServer(stack.workdir / f"redis-{name}") if adapter is not None else None
    d = Deployment(name, instances, TcpProxy(instances[0].port).start(), redis)
    REPORTED.append(d)
    try:
        env = dict(stack.env())
        for key in ("REDIS_URL", "REDIS_CLUSTER_NODES", "SOCKETIO_ADAPTER", "SOCKETIO_SHARDED_MODE"):
            env.pop(key, None)
        if redis is not None:
            env.update(REDIS_URL=redis.start(), SOCKETIO_ADAPTER=adapter)
        origins = stack.origins() + d.proxy.origins
        for inst in instances:
            origins += [f"http://127.0.0.1:{inst.port}", f"http://localhost:{inst.port}"]
        env["CORS_ORIGINS"] = ",".join(origins)
        for inst in instances:
            inst.env = env
            inst.start()
    except Exception as exc:  # noqa: BLE001
        logs = "\n".join(f"--- {title}\n{text}" for title, text in d.logs())
        d.stop()
        REPORTED.remove(d)
        pytest.fail(f"could not start the {name} instances: {exc}\n{logs}", pytrace=False)
    yield d
    early = d.stop()
    REPORTED.remove(d)
    if early:
        pytest.fail(f"{name} instances exited by themselves: {early}", pytrace=False)


@pytest.fixture(scope="module")
def single(stack):
    """One instance, REDIS_URL unset: the in-process adapter keeps the sessions."""
    yield from deploy(stack, "recovery-single", 1, None)


@pytest.fixture(scope="module")
def streams(stack):
    """Two instances on SOCKETIO_ADAPTER=streams: sessions and missed packets in Redis."""
    yield from deploy(stack, "recovery-streams", 2, "streams")


@pytest.fixture(scope="module")
def pubsub(stack):
    """Two instances on the classic pub/sub adapter, which cannot recover a connection."""
    yield from deploy(stack, "recovery-pubsub", 2, "pubsub")


@pytest.fixture
def running(request):
    """Restarts what a test left stopped: every instance of the deployments this module made."""
    yield
    for d in list(REPORTED):
        if isinstance(d, Deployment):
            d.proxy.unblock()
            d.proxy.retarget(d.instances[0].port)
            for inst in d.instances:
                if not inst.alive():
                    inst.stop()
                    inst.start()


# --- the page ------------------------------------------------------------------------------

def open_room(profile, label: str, d: Deployment, user, item: dict):
    """`user` signed in through the proxy in a profile of its own; the room open there, live."""
    p = profile(label)
    p.sign_in(d.proxy.url, user)
    tab = p.open_tab(label, f"{d.proxy.url}/items/{item['id']}")
    tab.wait_live()
    return tab


def connection_log(tab) -> list[dict]:
    return tab.driver.execute_script(CONNECTION_LOG_JS)


def since_last_drop(tab) -> list[dict]:
    """The connection log after its last disconnect."""
    entries = connection_log(tab)
    drops = [i for i, e in enumerate(entries) if e["type"] == "disconnect"]
    assert drops, f"the page saw no disconnect: {entries}"
    return entries[drops[-1] + 1:]


def current_socket(tab) -> dict:
    connects = [e for e in connection_log(tab) if e["type"] == "connect"]
    assert connects, "the page never connected"
    return connects[-1]


def note(tab) -> tuple[str, str | None, str | None]:
    """(text, data-kind, data-missed) of the connection note; ("", None, None) while hidden."""
    node = tab.find(NOTE)
    if not node.is_displayed():
        return ("", None, None)
    return (node.text.strip(), node.get_attribute("data-kind"), node.get_attribute("data-missed"))


def closed_sessions(inst: Instance) -> int:
    return inst.log_text(5_000_000).count("session closed")


def drop(tab, d: Deployment, inst: Instance) -> None:
    """Cuts the page's connections (RST both ways) and keeps it out: every attempt to come back
    is reset until `d.proxy.unblock()`. Returns once the page shows "reconnecting…" and `inst`
    has closed the page's Engine.IO session (so the session the page comes back to is saved)."""
    tab.watch_status()
    closed = closed_sessions(inst)
    d.proxy.block()
    cut = d.proxy.cut()
    assert cut >= 1, "the proxy had no connection of the page to cut"
    wait_until(lambda: "reconnecting…" in tab.status_log(), timeout=15,
               message=f"the page to show 'reconnecting…' (statuses: {tab.status_log()})")
    wait_until(lambda: closed_sessions(inst) > closed, timeout=15,
               message=f"{inst.name} to close the page's session after the cut")
    assert note(tab) == ("", None, None), note(tab)


def stored_bids(base_url: str, item: dict) -> list[str]:
    r = requests.get(f"{base_url}/items/{item['id']}/bids?limit=1000", timeout=10)
    assert r.status_code == 200, r.text
    return [b["id"] for b in r.json()]


def assert_feed_is(tab, ids_oldest_first: list[str]) -> list[dict]:
    """The feed (newest first) is exactly these bids, and stays so for a moment (nothing late)."""
    expected = list(reversed(ids_oldest_first))
    tab.wait_feed(lambda f: [e["id"] for e in f] == expected, message=f"the feed to be {expected}")
    time.sleep(0.8)
    feed = tab.feed()
    assert [e["id"] for e in feed] == expected, feed
    return feed


def assert_each_bid_event_once(tab) -> None:
    """No bid event reached the page twice (the feed would hide it: it keys bids by id)."""
    ids = [e["id"] for e in connection_log(tab) if e["type"] == "bid"]
    assert len(ids) == len(set(ids)), f"bid events seen more than once: {ids}"


# --- recovery ------------------------------------------------------------------------------

def recover_after_a_drop(users, profile, d: Deployment, *, back_on: Instance, label: str) -> None:
    a, b = users["a"], users["b"]
    first_instance = d.instances[0]
    item = new_item(first_instance.url, users["seller"], starting=1000, increment=100)
    tab = open_room(profile, label, d, a, item)
    bidder = SioBidder(first_instance.url, b, item["id"])
    try:
        # One bid before the drop: its event carries the offset the page will recover from.
        first = bidder.bid(1000)
        tab.wait_feed(lambda f: [e["id"] for e in f] == [first["id"]], message="the first bid")
        before = current_socket(tab)
        assert before["recovered"] is False, before

        drop(tab, d, first_instance)
        meanwhile = [bidder.bid(1100)["id"], bidder.bid(1200)["id"], bidder.bid(1300)["id"]]
        time.sleep(0.3)
        assert [e["id"] for e in tab.feed()] == [first["id"]], "bids reached a page that was cut off"
        d.proxy.retarget(back_on.port)
        d.proxy.unblock()

        tab.wait_live(timeout=30)
        after = since_last_drop(tab)
        connects = [e for e in after if e["type"] == "connect"]
        assert connects and connects[0]["recovered"] is True, \
            f"the page did not recover its connection (socket.recovered false): {after}"
        assert connects[0]["id"] == before["id"], f"the recovered socket has another id: {before} then {after}"
        # The missed bids, replayed ahead of `connect`, once each, in order; no state reload.
        replayed = after[:after.index(connects[0])]
        assert [e["type"] for e in replayed] == ["bid"] * len(meanwhile), after
        assert [e["id"] for e in replayed] == meanwhile and all(e["added"] for e in replayed), after
        assert [e for e in after if e["type"] == "state"] == [], f"a recovered socket got auction:state: {after}"
        wait_until(lambda: note(tab) == ("reconnected, 3 missed bids", "recovered", "3"),
                   message=f"the note 'reconnected' (shows {note(tab)!r})")
        feed = assert_feed_is(tab, [first["id"], *meanwhile])
        assert all(e["mine"] == "false" and e["text"] == f"{b.name}: {p}" for e, p in zip(feed, (1300, 1200, 1100, 1000))), feed
        assert tab.text("[data-testid=current-price]") == "1,300"
        assert tab.status() == "live"

        # Its rooms came back with it: Bob's next bid (the item's room) and Alice's own (her
        # rooms: `mine`, acked) arrive once each, on the instance it came back to.
        later = bidder.bid(1400)
        tab.wait_feed(lambda f: f and f[0]["id"] == later["id"], message="a live bid after the recovery")
        tab.bid(1500)
        feed = tab.wait_feed(lambda f: len(f) == 6 and f[0]["mine"] == "true", message="Alice's own bid after the recovery")
        assert feed[0]["text"].startswith("You"), feed[0]
        assert tab.text("[data-testid=bid-error]") == ""
        assert [e["id"] for e in reversed(feed)] == stored_bids(first_instance.url, item)
        assert_each_bid_event_once(tab)
        assert current_socket(tab)["id"] == before["id"]
        reasons = [e["reason"] for e in connection_log(tab) if e["type"] == "disconnect"]
        assert len(reasons) == 1 and reasons[0] in ("transport close", "transport error"), connection_log(tab)
        tab.screenshot(f"recovery-{label}")
    finally:
        bidder.close()


def test_a_dropped_tab_recovers_its_connection_on_its_single_instance(stack, users, profile, single, running):
    only = single.instances[0]
    recover_after_a_drop(users, profile, single, back_on=only, label="alice-recovery-single")


def test_a_dropped_tab_recovers_its_connection_on_the_other_instance_with_the_streams_adapter(
        stack, users, profile, streams, running):
    one, two = streams.instances
    recover_after_a_drop(users, profile, streams, back_on=two, label="alice-recovery-streams")
    # It really moved: only the page reaches instance two (Bob bids on instance one).
    assert "session opened" in two.log_text(5_000_000), f"{two.name} never had a session of the page"


# --- when recovery is not possible ---------------------------------------------------------

@pytest.mark.parametrize("case", ["pubsub-other-instance", "single-instance-restarted"])
def test_without_recovery_the_tab_catches_up_from_its_last_bid(stack, users, profile, request, running, case):
    d: Deployment = request.getfixturevalue("pubsub" if case.startswith("pubsub") else "single")
    a, b = users["a"], users["b"]
    first_instance = d.instances[0]
    back_on = d.instances[-1]
    item = new_item(first_instance.url, users["seller"], starting=1000, increment=100)
    tab = open_room(profile, f"alice-catch-up-{case}", d, a, item)
    bidder = SioBidder(first_instance.url, b, item["id"])
    try:
        first = bidder.bid(1000)
        tab.wait_feed(lambda f: [e["id"] for e in f] == [first["id"]], message="the first bid")
        before = current_socket(tab)

        drop(tab, d, first_instance)
        if case == "single-instance-restarted":
            # Its in-process sessions go with it.
            bidder.close()
            first_instance.stop()
            first_instance.start()
            bidder = SioBidder(first_instance.url, b, item["id"])
        meanwhile = [bidder.bid(1100)["id"], bidder.bid(1200)["id"], bidder.bid(1300)["id"]]
        d.proxy.retarget(back_on.port)
        d.proxy.unblock()

        tab.wait_live(timeout=30)
        wait_until(lambda: note(tab) == ("caught up 3 missed bids", "caught-up", "3"),
                   message=f"the note 'caught up 3 missed bids' (shows {note(tab)!r})")
        after = since_last_drop(tab)
        connects = [e for e in after if e["type"] == "connect"]
        assert connects and connects[0]["recovered"] is False, after
        assert connects[0]["id"] != before["id"], f"a socket that was not recovered kept its id: {after}"
        states = [e for e in after if e["type"] == "state"]
        assert len(states) == 1 and states[0]["bids"] == meanwhile and states[0]["added"] == 3, after
        feed = assert_feed_is(tab, [first["id"], *meanwhile])
        assert all(e["mine"] == "false" and e["text"].startswith(f"{b.name}:") for e in feed), feed
        assert tab.text("[data-testid=current-price]") == "1,300"

        # And live from there: Bob's bid and Alice's own, once each.
        later = bidder.bid(1400)
        tab.wait_feed(lambda f: f and f[0]["id"] == later["id"], message="a live bid after the catch-up")
        tab.bid(1500)
        feed = tab.wait_feed(lambda f: len(f) == 6 and f[0]["mine"] == "true", message="Alice's own bid after the catch-up")
        assert [e["id"] for e in reversed(feed)] == stored_bids(first_instance.url, item)
        assert_each_bid_event_once(tab)
        assert tab.status() == "live"
        tab.screenshot(f"catch-up-{case}")
    finally:
        bidder.close()
