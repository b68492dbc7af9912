"""Turns the result files of bench/compare.sh into BENCHMARKS.md and a plot of delivery p99.

Reads fanout-<shape>-<server>-<rate>.json and idle-<server>.json (written by `auction-bench`) and
idle-polling-<server>.json (written by bench/idle_polling.py), writes a Markdown report with
ratios (absolute figures drift between runs on a shared 2-core machine; ratios of runs made one
after the other drift much less) and a PNG plot.
"""

import argparse
import glob
import json
import os
import platform
import re
import subprocess
import sys
from importlib import metadata

SERVERS = {"swift": "ours (Swift)", "python": "python-socketio"}
# p99 bounds of "highest sustained rate", tightest first; the headline ratio is taken at the
# tightest one both servers meet.
BOUNDS = (20, 50, 100, 250, 1000)
SHAPES = {
    "single": "one instance",
    "cluster": "two instances over Redis",
}
# Fixed rates, every one run, for server CPU per delivery (bench/compare.sh's everyday load).
EVERYDAY = {
    "everyday1": "one instance",
    "everyday2": "two instances over Redis",
}


def load(results_dir):
    fanouts, idles, pollings = {}, {}, {}
    for path in glob.glob(os.path.join(results_dir, "fanout-*.json")):
        match = re.match(r"fanout-(\w+)-(\w+)-([\d.]+)\.json$", os.path.basename(path))
        if not match:
            continue
        shape, server, _ = match.groups()
        with open(path) as handle:
            fanouts.setdefault(shape, {}).setdefault(server, []).append(json.load(handle))
    for runs in fanouts.values():
        for server_runs in runs.values():
            server_runs.sort(key=lambda run: run["parameters"]["offeredRatePerSecond"])
    # idle-<server>.json: WebSockets; idle-polling-<server>.json: long-polling sessions (a server
    # name has no dash, so neither pattern takes the other's files).
    for pattern, runs in ((r"idle-(\w+)\.json$", idles), (r"idle-polling-(\w+)\.json$", pollings)):
        for path in glob.glob(os.path.join(results_dir, "idle-*.json")):
            match = re.match(pattern, os.path.basename(path))
            if match:
                with open(path) as handle:
                    runs[match.group(1)] = json.load(handle)
    return fanouts, idles, pollings


def complete(run):
    traffic = run["traffic"]
    return traffic["delivered"] == traffic["expectedDeliveries"] and traffic["unacked"] == 0


def offered_deliveries(run):
    return run["parameters"]["offeredRatePerSecond"] * run["connections"]["connected"]


def sustained(runs, p99_bound):
    """The run with the highest delivered/s that lost nothing and kept delivery p99 within the bound."""
    good = [run for run in runs if complete(run) and run["latency"]["delivery"]["p99Ms"] <= p99_bound]
    return max(good, key=lambda run: run["traffic"]["deliveredPerSecond"], default=None)


def ms(value):
    if value < 10:
        return f"{value:.2f} ms"
    if value < 1000:
        return f"{value:.1f} ms"
    return f"{value / 1000:.2f} s"


def ratio(numerator, denominator):
    if not numerator or not denominator:
        return "–"
    return f"{numerator / denominator:.1f}×"


def less_or_more(ours, theirs):
    """How our figure compares with python-socketio's, for costs: "3.6× less" or "1.1× more"."""
    if not ours or not theirs:
        return "–"
    return f"{theirs / ours:.1f}× less" if ours <= theirs else f"{ours / theirs:.1f}× more"


def memory_per_session(runs):
    """server -> KiB of server memory per connection or session, None where not measured."""
    return {server: (runs[server]["serverMemory"]["bytesPerConnection"] / 1024 if server in runs and runs[server].get("serverMemory") else None) for server in SERVERS}


def idle_table(runs, per):
    lines = [
        f"| server | connected | setup/s | RSS before | RSS connected | per {per} | dropped while held |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for server, label in SERVERS.items():
        run = runs.get(server)
        if not run:
            continue
        memory = run.get("serverMemory") or {}
        lines.append(
            f"| {label} | {run['connections']['connected']:,}/{run['parameters']['connections']:,} | {run['connections']['setupPerSecond']:,.0f} "
            f"| {memory.get('rssBeforeBytes', 0) / 1048576:.1f} MiB | {memory.get('rssConnectedBytes', 0) / 1048576:.1f} MiB "
            f"| {memory.get('bytesPerConnection', 0) / 1024:.1f} KiB | {run['connections']['dropped']} |"
        )
    return lines


def cpu_per_delivery(run):
    """(total, user, system) server µs per delivery, or None where the run did not measure it."""
    cpu = run.get("serverCPU")
    if not cpu or cpu.get("microsecondsPerDelivery") is None:
        return None
    return cpu["microsecondsPerDelivery"], cpu["userMicrosecondsPerDelivery"], cpu["systemMicrosecondsPerDelivery"]


def cpu_cell(run):
    figures = cpu_per_delivery(run) if run else None
    if figures is None:
        return "–"
    total, user, system = figures
    return f"{total:.1f} µs ({user:.1f} + {system:.1f})"


# Our server once more at the everyday load with a wider write window (bench/compare.sh's
# EVERYDAY_WINDOW_MS): the same sockets, fewer writes.
WINDOWED = "swiftw"


def everyday_servers(window_ms):
    """The rows of the everyday table: ours (default window), ours with the wider one, python-socketio."""
    return {"swift": "ours (2 ms window, the default)", WINDOWED: f"ours, {window_ms:g} ms window", "python": "python-socketio"}


def everyday_runs(fanouts, shape):
    """{rate: {server: run}} of one everyday shape."""
    by_rate = {}
    for server, runs in fanouts.get(shape, {}).items():
        for run in runs:
            by_rate.setdefault(run["parameters"]["offeredRatePerSecond"], {})[server] = run
    return dict(sorted(by_rate.items()))


def everyday_table(fanouts, window_ms):
    lines = [
        "| shape | offered bids/s | offered deliveries/s | server | CPU per delivery (user + sys) | delivered, delivery p99 "
        "| python-socketio's CPU per delivery ÷ this |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for shape, title in EVERYDAY.items():
        for rate, runs in everyday_runs(fanouts, shape).items():
            theirs = cpu_per_delivery(runs["python"]) if "python" in runs else None
            for server, label in everyday_servers(window_ms).items():
                run = runs.get(server)
                if run is None:
                    continue
                state = "all" if complete(run) else f"{run['traffic']['delivered'] / max(1, run['traffic']['expectedDeliveries']):.0%} (saturated)"
                ours = cpu_per_delivery(run)
                versus = "–" if server == "python" or not (ours and theirs) else ratio(theirs[0], ours[0])
                lines.append(f"| {title} | {rate:g} | {offered_deliveries(run):,.0f} | {label} | {cpu_cell(run)} "
                             f"| {state}, {ms(run['latency']['delivery']['p99Ms'])} | {versus} |")
    return lines


def cpu_targets(fanouts, window_ms, cpu_bound, p99_bound):
    """One line per everyday shape and rate: our runs against ≤ cpu_bound µs per delivery with
    delivery p99 ≤ p99_bound ms and nothing lost."""
    lines = []
    for shape, title in EVERYDAY.items():
        for rate, runs in everyday_runs(fanouts, shape).items():
            cells = []
            for server in ("swift", WINDOWED):
                run = runs.get(server)
                figures = cpu_per_delivery(run) if run else None
                if figures is None:
                    continue
                p99 = run["latency"]["delivery"]["p99Ms"]
                met = figures[0] <= cpu_bound and p99 <= p99_bound and complete(run)
                window = "2 ms" if server == "swift" else f"{window_ms:g} ms"
                cells.append(f"{window} window: **{'met' if met else 'not met'}** ({figures[0]:.1f} µs, p99 {ms(p99)})")
            if cells:
                lines.append(f"- Server CPU ≤ {cpu_bound:g} µs per delivery with delivery p99 ≤ {p99_bound:g} ms, {title}, "
                             f"{rate:g} bids/s: " + "; ".join(cells) + ".")
    return lines


def fanout_table(shape, runs_by_server):
    rates = sorted({run["parameters"]["offeredRatePerSecond"] for runs in runs_by_server.values() for run in runs})
    lines = [
        "| offered bids/s | offered deliveries/s | ours: delivered/s | ours: delivery p50 / p99 | ours: ack p99 "
        "| python-socketio: delivered/s | python-socketio: delivery p50 / p99 | python-socketio: ack p99 | p99 ratio (python / ours) "
        "| ours: CPU per delivery | python-socketio: CPU per delivery |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rate in rates:
        cells = [f"{rate:g}"]
        runs = {server: next((run for run in runs_by_server.get(server, []) if run["parameters"]["offeredRatePerSecond"] == rate), None) for server in SERVERS}
        any_run = runs["swift"] or runs["python"]
        cells.append(f"{offered_deliveries(any_run):,.0f}")
        for server in SERVERS:
            run = runs[server]
            if run is None:
                cells += ["not run (saturated below)", "", ""]
                continue
            flag = "" if complete(run) else " (incomplete: " + f"{run['traffic']['missingDeliveries']:,} missing, {run['traffic']['unacked']:,} unacked)"
            delivery = run["latency"]["delivery"]
            cells += [
                f"{run['traffic']['deliveredPerSecond']:,.0f}{flag}",
                f"{ms(delivery['p50Ms'])} / {ms(delivery['p99Ms'])}",
                ms(run["latency"]["ack"]["p99Ms"]),
            ]
        if runs["swift"] and runs["python"]:
            cells.append(ratio(runs["python"]["latency"]["delivery"]["p99Ms"], runs["swift"]["latency"]["delivery"]["p99Ms"]))
        else:
            cells.append("–")
        cells += [cpu_cell(runs["swift"]), cpu_cell(runs["python"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def plot(fanouts, path, p99_bound):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shapes = [shape for shape in SHAPES if shape in fanouts]
    figure, axes = plt.subplots(1, max(1, len(shapes)), figsize=(6 * max(1, len(shapes)), 4.5), squeeze=False)
    styles = {"swift": ("tab:orange", "o"), "python": ("tab:blue", "s")}
    for axis, shape in zip(axes[0], shapes):
        for server, label in SERVERS.items():
            runs = fanouts[shape].get(server, [])
            if not runs:
                continue
            color, marker = styles[server]
            xs = [offered_deliveries(run) for run in runs]
            ys = [max(run["latency"]["delivery"]["p99Ms"], 0.01) for run in runs]
            axis.plot(xs, ys, color=color, marker=marker, label=label)
            for x, y, run in zip(xs, ys, runs):
                if not complete(run):
                    axis.annotate("lost/unacked", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color=color)
        sockets = next(iter(fanouts[shape].values()))[0]["parameters"]["sockets"]
        axis.axhline(p99_bound, color="grey", linestyle="--", linewidth=0.8, label=f"{p99_bound:g} ms (target at 1,000 sockets)")
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("offered deliveries/s (bids/s × sockets)")
        axis.set_ylabel("delivery p99 (ms)")
        axis.set_title(f"{SHAPES[shape]}, {sockets} sockets in one room")
        axis.grid(True, which="both", linewidth=0.3)
        axis.legend()
    figure.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    figure.savefig(path, dpi=110)


def command_line(args):
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    memory = "unknown"
    try:
        with open("/proc/meminfo") as handle:
            kib = int(next(line.split()[1] for line in handle if line.startswith("MemTotal")))
            memory = f"{kib / 1048576:.0f} GiB"
    except (OSError, StopIteration):
        pass
    return {
        "cpu": f"{os.cpu_count()} × {cpu}",
        "memory": memory,
        "kernel": platform.release(),
        "swift": command_line(["swift", "--version"]).splitlines()[0] if command_line(["swift", "--version"]) else "unknown",
        "python": platform.python_version(),
        "python-socketio": metadata.version("python-socketio"),
        "python-engineio": metadata.version("python-engineio"),
        "aiohttp": metadata.version("aiohttp"),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", required=True)
    parser.add_argument("--markdown", required=True)
    parser.add_argument("--plot", required=True)
    parser.add_argument("--commit", default="unknown")
    parser.add_argument("--run-seconds", type=int, default=0)
    parser.add_argument("--build-seconds", type=int, default=0)
    parser.add_argument("--saturated-ms", type=float, default=1000)
    parser.add_argument("--target-p99-ms", type=float, default=20)
    parser.add_argument("--redis-version", default="unknown")
    parser.add_argument("--everyday-window-ms", type=float, default=20)
    parser.add_argument("--target-cpu-us", type=float, default=4)
    parser.add_argument("--target-everyday-p99-ms", type=float, default=24)
    parser.add_argument("--target-idle-kib", type=float, default=3)
    parser.add_argument("--failure", nargs="*", default=[])
    args = parser.parse_args()

    fanouts, idles, pollings = load(args.results)
    if not fanouts and not idles and not pollings:
        sys.exit(f"no result files in {args.results}")
    facts = machine()
    lines = [
        "# Benchmarks: our Socket.IO server against python-socketio",
        "",
        f"Written by `make bench` (bench/compare.sh, bench/report.py) at commit {args.commit}; the run took "
        f"{args.run_seconds // 60} min {args.run_seconds % 60} s after a build step of {args.build_seconds} s. "
        "Absolute figures drift between runs on a shared 2-core machine; the ratios, from runs made one after the "
        "other under the same load, are the figures to quote.",
        "",
        "## Method",
        "",
        "- Both servers run the same minimal app: join the room named by the handshake query `room`; on `bid` (an object) "
        "ack `{ok: true}` and broadcast `bid` with the same payload to the room, sender included. Ours is "
        "`socketio-bench-server` (release build); the peer is `bench/peers/python-socketio/server.py` (`AsyncServer` on aiohttp, "
        "default asyncio loop, `AsyncRedisManager` with two instances). Neither logs.",
        "- The load generator `auction-bench` (Swift, SwiftNIO WebSockets, our codecs) runs on the same machine, over loopback, "
        "with one monotonic clock: *ack* = emit to ack at the sender, *delivery* = emit to arrival at **every** socket of the room "
        "(sender included). It checks that every bid reaches every socket once and in order.",
        f"- `fanout`: the sockets connect over WebSocket, {json_first(fanouts, 'emitters')} of them emit acked bids at the offered rate, "
        f"spread evenly, for {json_first(fanouts, 'durationSeconds'):g} s per rate; a server's sweep stops at its first saturated rate "
        f"(a bid lost or unacked after a 5 s drain, or delivery p99 over {args.saturated_ms:g} ms).",
        "- Ours acks a bid, then broadcasts it; python-socketio sends the ack when the handler returns, so there it follows the "
        "broadcast. If anything, that order favours python-socketio's delivery latency, the figure compared.",
        "- The load generator reads the exact bid frames both servers send (`42[\"bid\",{...}]`) straight from their bytes and "
        "decodes anything else fully, so it takes as little of the shared CPU per delivery as it can; it still uses about as much "
        "CPU as our server under load, which is part of every figure here.",
        "- `idle`: N WebSocket connections (Socket.IO connected to `/`, no room) held on one fresh instance; memory per connection "
        "= (server VmRSS with all connected − VmRSS before the first) / N, from `/proc/<pid>/status`. N is 19,900 where a "
        "process may open at most 20,000 descriptors and the limit cannot be raised (this machine, root included).",
        "- `idle-polling`: N Engine.IO long-polling sessions (`bench/idle_polling.py`: Socket.IO connected to `/`, never upgraded, "
        "one keep-alive HTTP/1.1 connection each with one GET held open, as a browser on polling holds it; pings answered) on one "
        "fresh instance; memory per session measured as for `idle`.",
        "- *Highest sustained rate* at a p99 bound: the most deliveries/s in a run that lost nothing and kept delivery p99 within the bound, "
        f"for bounds of {', '.join(f'{b:g}' for b in BOUNDS)} ms, the same for both servers.",
        "",
        "## Machine",
        "",
    ]
    lines += [f"- {key}: {value}" for key, value in facts.items()]
    lines += [f"- Redis: {args.redis_version}", ""]

    lines += ["## Summary", "", "| measure | ours (Swift) | python-socketio | ratio |", "|---|---:|---:|---:|"]
    # shape -> (bound, swift rate, python rate) at the tightest bound both servers meet
    headline = {}
    for shape, title in SHAPES.items():
        if shape not in fanouts:
            continue
        for each_bound in BOUNDS:
            best = {server: sustained(fanouts[shape].get(server, []), each_bound) for server in SERVERS}
            rates = {server: (run["traffic"]["deliveredPerSecond"] if run else None) for server, run in best.items()}
            if shape not in headline and rates["swift"] and rates["python"]:
                headline[shape] = (each_bound, rates["swift"], rates["python"])
            cells = []
            for server in SERVERS:
                run = best[server]
                cells.append(f"{rates[server]:,.0f}/s (p99 {ms(run['latency']['delivery']['p99Ms'])})" if run else f"none within {each_bound:g} ms")
            lines.append(f"| highest sustained deliveries/s, {title}, p99 ≤ {each_bound:g} ms | {cells[0]} | {cells[1]} | {ratio(rates['swift'], rates['python'])} |")
    if idles:
        per = memory_per_session(idles)
        setup = {server: (idles[server]["connections"]["setupPerSecond"] if server in idles else None) for server in SERVERS}
        count = next(iter(idles.values()))["parameters"]["connections"]
        lines.append(
            f"| memory per idle WebSocket at {count:,} connections | "
            + " | ".join(f"{per[server]:.1f} KiB" if per[server] is not None else "–" for server in SERVERS)
            + f" | {ratio(per['python'], per['swift'])} less |"
        )
        lines.append(
            f"| connection setup (WebSocket + Socket.IO CONNECT), {count:,} connections | "
            + " | ".join(f"{setup[server]:,.0f}/s" if setup[server] else "–" for server in SERVERS)
            + f" | {ratio(setup['swift'], setup['python'])} |"
        )
    if pollings:
        per = memory_per_session(pollings)
        count = next(iter(pollings.values()))["parameters"]["connections"]
        lines.append(
            f"| memory per idle long-polling session at {count:,} sessions | "
            + " | ".join(f"{per[server]:.1f} KiB" if per[server] is not None else "–" for server in SERVERS)
            + f" | {less_or_more(per['swift'], per['python'])} |"
        )
    lines.append("")

    lines += ["## Targets", ""]
    cluster_runs = fanouts.get("cluster", {}).get("swift", [])
    at200 = next((run for run in cluster_runs if run["parameters"]["offeredRatePerSecond"] == 200), None)
    if at200:
        p99 = at200["latency"]["delivery"]["p99Ms"]
        verdict = "met" if p99 <= args.target_p99_ms and complete(at200) else "not met"
        lines.append(
            f"- Delivery p99 ≤ {args.target_p99_ms:g} ms at {at200['connections']['connected']:,} sockets over two instances and 200 bids/s: "
            f"**{verdict}** — p99 {ms(p99)}, p50 {ms(at200['latency']['delivery']['p50Ms'])}, "
            f"{at200['traffic']['deliveredPerSecond']:,.0f} deliveries/s, {'nothing lost' if complete(at200) else 'INCOMPLETE'}."
        )
    else:
        tried = ", ".join(
            f"{run['parameters']['offeredRatePerSecond']:g} bids/s → p99 {ms(run['latency']['delivery']['p99Ms'])}" for run in cluster_runs
        )
        lines.append(
            "- Delivery p99 ≤ 20 ms at 1,000 sockets over two instances and 200 bids/s: **not met** — the sweep saturated below "
            f"200 bids/s ({tried or 'no cluster runs'})."
        )
    for shape, title in SHAPES.items():
        if shape not in fanouts:
            continue
        if shape in headline:
            each_bound, ours, theirs = headline[shape]
            factor = ours / theirs
            lines.append(
                f"- Highest sustained fan-out ≥ 3× python-socketio's at equal p99, {title}: **{'met' if factor >= 3 else 'not met'}** — "
                f"{factor:.1f}× at p99 ≤ {each_bound:g} ms, the tightest bound both met ({ours:,.0f} against {theirs:,.0f} deliveries/s)."
            )
        else:
            lines.append(f"- Highest sustained fan-out, {title}: no p99 bound of {', '.join(f'{b:g}' for b in BOUNDS)} ms was met by both servers; see the table.")
    if "swift" in idles and idles["swift"].get("serverMemory"):
        kib = idles["swift"]["serverMemory"]["bytesPerConnection"] / 1024
        count = idles["swift"]["connections"]["connected"]
        lines.append(f"- Memory ≤ {args.target_idle_kib:g} KiB per idle WebSocket at 19,900 connections: "
                     f"**{'met' if kib <= args.target_idle_kib and count >= 19900 else 'not met'}** — {kib:.1f} KiB at {count:,}.")
    lines += cpu_targets(fanouts, args.everyday_window_ms, args.target_cpu_us, args.target_everyday_p99_ms)
    lines.append("")

    for shape, title in SHAPES.items():
        if shape not in fanouts:
            continue
        sockets = next(iter(fanouts[shape].values()))[0]["parameters"]["sockets"]
        lines += [f"## Fan-out, {title}: {sockets:,} sockets in one room", ""]
        lines += fanout_table(shape, fanouts[shape]) + [""]

    if any(shape in fanouts for shape in EVERYDAY):
        sockets = next(iter(next(fanouts[shape] for shape in EVERYDAY if shape in fanouts).values()))[0]["parameters"]["sockets"]
        lines += [
            f"## Server CPU per delivery at everyday load: {sockets:,} sockets in one room, fixed rates",
            "",
            "Server CPU = user + system time of the server processes (`/proc/<pid>/stat`; Redis not included) from the start "
            "of emission to the end of the drain, divided by the deliveries in that span. A server that cannot keep up "
            "(saturated) is still charged per message it delivered. Ours runs twice: with the default write window "
            f"(writes to one WebSocket at least 2 ms apart) and with `--write-coalescing-ms {args.everyday_window_ms:g}`, "
            "where what comes within the window leaves in one write (one window of latency at most; every write is a "
            "system call, about half of the CPU per delivery here).",
            "",
        ]
        lines += everyday_table(fanouts, args.everyday_window_ms) + [""]

    if idles:
        lines += ["## Idle WebSockets", ""] + idle_table(idles, "connection") + [""]
    if pollings:
        lines += ["## Idle long-polling sessions", ""] + idle_table(pollings, "session") + [""]

    if fanouts:
        plot(fanouts, args.plot, args.target_p99_ms)
        relative = os.path.relpath(args.plot, os.path.dirname(os.path.abspath(args.markdown)) or ".")
        lines += ["## Delivery p99 against offered load", "", f"![delivery p99 against offered load]({relative})", ""]
    if args.failure:
        lines += ["## Runs that failed", ""] + [f"- {failure} (see the log of `make bench`)" for failure in args.failure] + [""]

    # Sections other benchmarks own (`make bench-herd` writes one between its markers) stay.
    lines += kept_sections(args.markdown)
    with open(args.markdown, "w") as handle:
        handle.write("\n".join(lines))


KEPT_SECTION = re.compile(r"<!-- ([a-z-]+):begin -->.*?<!-- \1:end -->\n?", re.S)


def kept_sections(path):
    """The marked sections of the file as it is: written by other scripts, not by this one."""
    try:
        with open(path) as handle:
            return [match.group(0).rstrip("\n") + "\n" for match in KEPT_SECTION.finditer(handle.read())]
    except FileNotFoundError:
        return []


def json_first(fanouts, key):
    for runs in fanouts.values():
        for server_runs in runs.values():
            if server_runs:
                return server_runs[0]["parameters"][key]
    return 0


if __name__ == "__main__":
    main()
