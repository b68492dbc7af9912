"""GET /metrics: every family from the first scrape of a new instance (parsed with the official
Prometheus client's parser, so the exposition itself is checked), and the figures moving by
exactly what a scripted session did: requests by route template, bids by result, sockets by
transport, Engine.IO messages, handshakes refused by reason."""

from __future__ import annotations

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from service_helpers import (
    Api, Instance, SioClient, assert_error_ack, assert_ok_ack, new_item, new_user, polling_handshake, wait_until,
)

# Family name (as the parser reports it: counters without `_total`) -> type.
FAMILIES = {
    "auction_bids": "counter",
    "auction_bid_duration_seconds": "histogram",
    "auction_bid_transaction_duration_seconds": "histogram",
    "socketio_connected_sockets": "gauge",
    "socketio_sessions_opened": "counter",
    "socketio_upgrades": "counter",
    "socketio_messages_received": "counter",
    "socketio_messages_sent": "counter",
    "socketio_handshakes_refused": "counter",
    "postgres_pool_connections_in_use": "gauge",
    "postgres_pool_waiting": "gauge",
    "redis_connected": "gauge",
    "redis_reconnects": "counter",
    "redis_publishes": "counter",
    "redis_publish_failures": "counter",
    "redis_messages_received": "counter",
    "process_cpu_seconds": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_start_time_seconds": "gauge",
}
BID_RESULTS = {"accepted", "BID_TOO_LOW", "AUCTION_CLOSED", "ITEM_NOT_FOUND", "INVALID_PAYLOAD", "RATE_LIMITED",
               "UNAUTHORIZED", "UNAVAILABLE"}


class Scrape:
    """One parsed exposition: families by name, and sample values by (name, labels)."""

    def __init__(self, url: str):
        r = requests.get(url + "/metrics", timeout=15)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
        self.text = r.text
        self.families = {f.name: f for f in text_string_to_metric_families(r.text)}

    def value(self, sample: str, **labels: str) -> float:
        found = [s.value for f in self.families.values() for s in f.samples
                 if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())]
        assert len(found) <= 1, f"{sample} {labels} is ambiguous: {found}"
        return found[0] if found else 0.0

    def labels(self, family: str, label: str) -> set[str]:
        return {s.labels[label] for s in self.families[family].samples if label in s.labels}


@pytest.fixture
def fresh(stack, tmp_path):
    inst = Instance(stack, tmp_path / "metrics.log")
    yield inst
    inst.stop()


def test_a_new_instance_shows_every_family_at_its_first_scrape(fresh):
    scrape = Scrape(fresh.url)
    for name, kind in FAMILIES.items():
        assert name in scrape.families, f"{name} missing from the first scrape:\n{scrape.text[:3000]}"
        assert scrape.families[name].type == kind, (name, scrape.families[name].type)
        assert scrape.families[name].documentation, f"{name} has no HELP"
    # Every bid result is there at zero before any bid, so rate() works from the first scrape.
    assert scrape.labels("auction_bids", "result") == BID_RESULTS
    for result in BID_RESULTS:
        assert scrape.value("auction_bids_total", result=result) == 0
    assert scrape.labels("socketio_connected_sockets", "transport") == {"polling", "websocket"}
    assert scrape.value("socketio_connected_sockets", namespace="/", transport="websocket") == 0
    assert scrape.labels("socketio_handshakes_refused", "reason") == {
        "origin", "denied", "too_many_for_address", "too_many_for_identity", "shutting_down", "identity"}
    assert scrape.value("redis_connected") == 1
    assert scrape.value("process_resident_memory_bytes") > 1_000_000
    assert 0 < scrape.value("process_open_fds") <= scrape.value("process_max_fds")
    assert scrape.value("process_cpu_seconds_total") > 0


def test_the_figures_move_by_what_a_scripted_session_did(fresh):
    api = Api(fresh)
    seller = new_user(api)
    item = new_item(api, seller, starting=100, increment=10)
    bidder = new_user(api)
    before = Scrape(fresh.url)

    client = SioClient(fresh, token=bidder.token).connect(item_id=item["id"])
    wait_until(lambda: Scrape(fresh.url).value("socketio_connected_sockets", namespace="/", transport="websocket")
               == before.value("socketio_connected_sockets", namespace="/", transport="websocket") + 1, timeout=10)
    assert_ok_ack(client.bid(item["id"], 100))
    assert_ok_ack(client.bid(item["id"], 110))
    assert_error_ack(client.bid(item["id"], 110), "BID_TOO_LOW")
    assert_error_ack(client.bid("999999999", 500), "INVALID_PAYLOAD")   # not this room's item
    assert_error_ack(client.bid(None, raw_payload=True, payload="not an object"), "INVALID_PAYLOAD")
    for _ in range(3):
        assert api.get(f"/items/{item['id']}").status_code == 200
    assert api.get("/items/999999999").status_code == 404
    # A handshake from a foreign origin is refused, and counted under its reason.
    assert polling_handshake(fresh, {"Origin": "http://evil.example", "Authorization": f"Bearer {bidder.token}"},
                             close=True).status_code == 403
    client.close()
    wait_until(lambda: Scrape(fresh.url).value("socketio_connected_sockets", namespace="/", transport="websocket")
               == before.value("socketio_connected_sockets", namespace="/", transport="websocket"), timeout=10)

    after = Scrape(fresh.url)
    moved = lambda sample, **labels: after.value(sample, **labels) - before.value(sample, **labels)  # noqa: E731
    assert moved("auction_bids_total", result="accepted") == 2
    assert moved("auction_bids_total", result="BID_TOO_LOW") == 1
    assert moved("auction_bids_total", result="INVALID_PAYLOAD") == 2
    assert moved("auction_bids_total", result="RATE_LIMITED") == 0
    assert moved("auction_bid_duration_seconds_count") == 5
    # One batch per bid that reached the ledger (one at a time here): the two accepted and the
    # one too low; the invalid ones are refused before any batch.
    assert moved("auction_bid_transaction_duration_seconds_count") == 3
    # By route template, never by path: one series for every item.
    assert moved("http_requests_total", route="/items/{id}", method="GET", status="200") == 3
    assert moved("http_requests_total", route="/items/{id}", method="GET", status="404") == 1
    assert not any("999999999" in s.labels.get("route", "") for s in after.families["http_requests"].samples)
    assert moved("socketio_sessions_opened_total") == 1
    assert moved("socketio_handshakes_refused_total", reason="origin") == 1
    # CONNECT plus five bid events received, and the DISCONNECT packet when it got out: the
    # client's disconnect() queues it for its writer thread and closes the WebSocket at once
    # (python-engineio's Client.disconnect), so it reaches the server or not (CI saw both).
    # The CONNECT reply, the state, two `bid` broadcasts and five acks sent (at least: the
    # room's own events are counted as sent too).
    assert moved("socketio_messages_received_total") in (6, 7)
    assert moved("socketio_messages_sent_total") >= 9
    # The two accepted bids went through Redis (the cluster adapter), and came back.
    assert moved("redis_publishes_total") >= 2
    assert moved("redis_publish_failures_total") == 0


def test_unknown_methods_and_paths_add_no_series(fresh):
    """A client inventing methods or paths cannot grow the exposition."""
    for n in range(20):
        requests.request(f"BREW{n}", fresh.url + f"/nowhere/{n}", timeout=15)
        requests.get(fresh.url + f"/nowhere/{n}", timeout=15)
    scrape = Scrape(fresh.url)
    routes = scrape.labels("http_requests", "route")
    methods = scrape.labels("http_requests", "method")
    assert not any(r.startswith("/nowhere") for r in routes), routes
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, methods
