"""The closing-auction herd's section of BENCHMARKS.md, from a `make bench-herd` run: the table of
.data/bench/herd.md and each target of the herd checked against the figures of that same run.
Replaces the section between its markers (or appends it); bench/report.py keeps it.

usage: herd_section.py HERD_MD RESULTS_DIR BENCHMARKS_MD"""

from __future__ import annotations

import glob
import json
import os
import re
import sys

BEGIN, END = "<!-- bench-herd:begin -->", "<!-- bench-herd:end -->"


def load(pattern: str) -> list[dict]:
    runs = []
    for path in sorted(glob.glob(pattern)):
        with open(path) as handle:
            runs.append(json.load(handle))
    return runs


def verdict(met: bool) -> str:
    return "**met**" if met else "**not met**"


def main(herd_md: str, results: str, benchmarks: str) -> None:
    with open(herd_md) as handle:
        body = handle.read().split("\n", 1)[1].strip()   # without its "# Service benchmark" title
    auctions = {(r["parameters"]["users"], r["parameters"]["tabs"], r["parameters"].get("offeredRatePerSecond")): r
                for r in load(os.path.join(results, "herd-auction-*.json"))}
    pgbench = {r["clients"]: r for r in load(os.path.join(results, "herd-pgbench-*.json"))}
    single = pgbench.get(1, {}).get("tps")

    targets = []
    run = auctions.get((500, 2, 4000.0))
    if run:
        bids, ack, audit = run["bids"], run["latency"]["ack"], run["delivery"]
        limited = bids["rejected"].get("RATE_LIMITED", 0)
        answered = bids["acked"] == bids["sent"] and bids["unacked"] == 0
        targets.append(f"- 500 × 2 at 4,000 bids/s: every bid answered — {verdict(answered)} "
                       f"({bids['acked']:,} of {bids['sent']:,} answered, {bids['unacked']} unanswered); "
                       f"none `RATE_LIMITED` — {verdict(limited == 0)} ({limited:,})")
        targets.append(f"- 500 × 2 at 4,000 bids/s: ack p99 ≤ 50 ms — {verdict(ack['p99Ms'] <= 50)} "
                       f"(p50 {ack['p50Ms']:.1f} ms, p99 {ack['p99Ms']:.1f} ms)")
        if single:
            rate = bids["acceptedPerSecond"]
            targets.append(f"- 500 × 2 at 4,000 bids/s: accepted/s ≥ half the single-client pgbench rate — "
                           f"{verdict(rate >= single / 2)} ({rate:,.1f}/s against {single:,.1f} tps ÷ 2 = {single / 2:,.1f})")
    closed = auctions.get((500, 2, None))
    if closed:
        decided = closed["bids"]["acked"] / closed["bids"]["windowSeconds"]
        targets.append(f"- 500 × 2 closed loop: bids decided/s ≥ 10 × 714 = 7,140 — {verdict(decided >= 7140)} "
                       f"({decided:,.0f}/s)")
    for key, r in sorted(auctions.items(), key=lambda kv: (kv[0][0], kv[0][2] or 0)):
        audit = r["delivery"]
        clean = all(audit[k] == 0 for k in ("missing", "duplicates", "outOfOrder", "unknownBids", "wrongMine",
                                            "wrongText", "acceptedOrderViolations"))
        rate = "closed loop" if key[2] is None else f"{key[2]:,.0f} bids/s"
        targets.append(f"- {key[0]} × {key[1]}, {rate}: audit clean — {verdict(clean)} "
                       f"({audit['delivered']:,} of {audit['expectedDeliveries']:,} deliveries, {audit['missing']} missing, "
                       f"{audit['duplicates']} duplicated, {audit['outOfOrder']} out of order, {audit['wrongMine']} wrong `mine`)")

    section = "\n".join([
        BEGIN,
        "## A closing auction's herd: two instances, one item",
        "",
        "Written by `make bench-herd` (bench/service.sh with bench/herd_section.py); every figure below is from that one run.",
        "",
        body,
        "",
        "Reading the figures: every tab bids the price it knows plus the increment, so after a winner",
        "the only bids that can win are those of tabs its broadcast has already reached; accepted bids",
        "per second are therefore bounded by about one over the delivery latency to the whole room (1,000",
        "tabs here), not by commits: one transaction per batch decides every bid that arrived meanwhile.",
        "The load generator shares the machine's two cores with both instances, PostgreSQL and Redis.",
        "",
        "### Targets",
        "",
        *targets,
        END,
    ]) + "\n"
    try:
        with open(benchmarks) as handle:
            text = handle.read()
    except FileNotFoundError:
        text = ""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END) + "\n?", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    with open(benchmarks, "w") as handle:
        handle.write(text)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
