# Entry points (see README). `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

VENV    := .data/venv
VENV_PY := $(VENV)/bin/python
BIN_DIR ?= .build/debug
export BIN_DIR

.PHONY: deps build run run-cluster run-observed test compliance fuzz bench bench-protocol bench-service bench-herd bench-cluster bench-sharded bench-streams bench-count clean

## deps: install what the tests need (Debian packages as root, Python venv in .data/venv)
deps:
	bash scripts/install-deps.sh

## build: one debug build of every product and the test targets
build:
	swift build --build-tests

## run-cluster: make run on a local Redis Cluster (3 primaries + 3 replicas, nodes 7100-7105) with the sharded adapter
run-cluster:
	REDIS_MODE=cluster bash scripts/run.sh

## run: deps, PostgreSQL (5433) and Redis (6380) under .data/, build, migrate, seed, instances on :3000 and :3001, nginx on :8080; Ctrl-C stops all
run:
	bash scripts/run.sh

## run-observed: `make run` plus Debian's prometheus on 127.0.0.1:9090 scraping both instances every 5 s (installed when missing; data in .data/prometheus; Grafana dashboard deploy/grafana/auction.json)
run-observed:
	WITH_PROMETHEUS=1 bash scripts/run.sh

## test: deps, one debug build, Swift tests, then the outside-in suites (protocol, service, cluster, browser) and the compliance suites
# A suite that needs a server we install (redis-server, nginx, chromium…) fails here instead of skipping.
test: export REQUIRE_TEST_SERVERS = 1
test: deps
	swift build --build-tests
	bash scripts/swift-test.sh
	$(VENV_PY) -m pytest tests/outside-in -q
	$(VENV_PY) -m pytest tests/service -q
	$(VENV_PY) -m pytest tests/cluster-protocol -q
	SOCKETIO_CLIENT_JS=$$(bash scripts/socketio-client.sh) $(VENV_PY) -m pytest tests/browser -q
	$(VENV_PY) -m pytest tests/cluster-service -q
	bash scripts/run-compliance.sh

## compliance: build, then the official socket.io-protocol / engine.io-protocol suites
compliance: build
	bash scripts/run-compliance.sh

## fuzz: libFuzzer targets for every decoder of peer bytes (release + ASan build in .build-fuzz; FUZZ_RUNS, FUZZ_SECONDS, FUZZ_TARGETS; see scripts/fuzz.sh)
fuzz:
	bash scripts/fuzz.sh

## bench: our server against python-socketio, same app and load, 1 and 2 instances + idle memory; writes BENCHMARKS.md (see bench/compare.sh)
bench:
	bash bench/compare.sh

## bench-protocol: protocol benchmark (release build; see bench/protocol.sh)
bench-protocol:
	bash bench/protocol.sh

## bench-service: auction service end to end vs its bid transaction in pgbench (release build; see bench/service.sh)
bench-service:
	bash bench/service.sh

## bench-herd: a closing auction's herd on two instances sharing Redis: 50 × 2 and 500 × 2 tabs, closed loop and 4,000 bids/s, pgbench at 1 and 8 clients (release build; bench/service.sh)
bench-herd:
	BENCH_NAME=herd BENCH_SECTION=herd_section.py BENCH_INSTANCES=2 BENCH_SECONDS=10 BENCH_PGBENCH_CLIENTS="1 8" \
	BENCH_SCENARIOS="50x2@unlimited 500x2@unlimited 500x2@4000" bash bench/service.sh

## bench-cluster: bid fan-out across two instances sharing Redis (release build; see bench/cluster.sh)
bench-cluster:
	bash bench/cluster.sh

## bench-sharded: the same fan-out over two instances with the classic adapter on one Redis and the sharded adapter on a local Redis Cluster, one run (release build; see bench/sharded.sh)
bench-sharded:
	bash bench/sharded.sh

## bench-streams: fan-out over two instances on one Redis with the classic, streams and streams + recovery adapters, then each through a 3 s Redis SIGKILL: catch-up time and deliveries lost (release build; see bench/streams.sh)
bench-streams:
	bash bench/streams.sh

## bench-count: heap allocations and socket writes of the server per delivery, counted exactly (LD_PRELOAD shim), a fixed small fan-out (50 sockets, 50 bids/s) run twice and differenced; the regression guard that does not need a quiet machine (release build; see bench/alloc-count.sh)
bench-count:
	bash bench/alloc-count.sh

## clean: remove build products and test scratch (keeps the venv in .data/venv)
clean:
	rm -rf .build .data/compliance
	find tests -name __pycache__ -type d -prune -exec rm -rf {} +
