"""Plots the key series of a run from Prometheus' HTTP API (/api/v1/query_range) into a PNG.

The panels are those of the Grafana dashboard (deploy/grafana/auction.json), drawn with
matplotlib: each target's PromQL as the dashboard has it, with $instance = every instance,
$__rate_interval = four scrape intervals and $__range = the plotted range, so the picture shows
exactly what the dashboard would (and tests/service/test_dashboard.py keeps both honest).

    .data/venv/bin/python bench/plot_metrics.py --start UNIX --end UNIX [--output docs/metrics.png]

matplotlib comes from PyPI into the venv (bench/metrics-picture.sh installs it when missing);
no test needs it. Series that are zero all along are left out of a panel and named in its corner.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DASHBOARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy", "grafana", "auction.json")
# (panel title, the refIds of its targets to draw; None: all of them)
PANELS = [
    ("Bids answered, by result", None),
    ("Bid latency, arrival to answer", None),
    ("Bid batch transaction, lock to unlock", None),
    ("Connected sockets, by transport", None),
    ("Handshakes refused, by reason", None),
    ("Engine.IO messages and upgrades", None),
    ("HTTP requests, by route and status", None),
    ("HTTP latency p99, by route", None),
    ("Redis publishes and failures", None),
    ("PostgreSQL pool", None),
    ("Process CPU", None),
    ("Resident memory", {"A"}),   # virtual memory would flatten it
]
# Grafana unit -> (factor, axis label)
UNITS = {"s": (1000, "ms"), "bytes": (1 / 2**20, "MiB"), "percentunit": (100, "%"), "reqps": (1, "requests/s")}


def api(base: str, path: str, **params) -> dict:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body = json.load(response)
    except urllib.error.HTTPError as error:
        raise SystemExit(f"plot_metrics: {url}: {error.code} {error.read().decode(errors='replace')}")
    except OSError as error:
        raise SystemExit(f"plot_metrics: Prometheus does not answer at {base} ({error}); is `make run-observed` running?")
    if body.get("status") != "success":
        raise SystemExit(f"plot_metrics: {url}: {body}")
    return body["data"]


def seconds(duration: str) -> float:
    """A Prometheus duration (5s, 1m30s, 250ms) in seconds."""
    factors = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|[smhdwy])", duration)
    if not parts:
        raise ValueError(f"not a duration: {duration!r}")
    return sum(float(n) * factors[u] for n, u in parts)


def scrape_interval(base: str) -> float:
    config = api(base, "/api/v1/status/config")["yaml"]
    m = re.search(r"scrape_interval:\s*(\S+)", config)
    return seconds(m.group(1)) if m else 15.0


def legend(template: str, labels: dict) -> str:
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template) or str(labels)
    return text.replace("127.0.0.1:", ":")   # the instances differ by port only


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090")
    parser.add_argument("--start", type=float, help="Unix time (default: --end minus 5 minutes)")
    parser.add_argument("--end", type=float, help="Unix time (default: now)")
    parser.add_argument("--output", default="docs/metrics.png")
    parser.add_argument("--title", default="")
    parser.add_argument("--columns", type=int, default=3)
    args = parser.parse_args()
    end = args.end or time.time()
    start = args.start or end - 300
    if start >= end:
        raise SystemExit("plot_metrics: --start must be before --end")

    try:
        import matplotlib
    except ImportError:
        raise SystemExit(f"plot_metrics: no matplotlib; {sys.executable} -m pip install matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(DASHBOARD) as handle:
        panels = {panel["title"]: panel for panel in json.load(handle)["panels"]}
    interval = scrape_interval(args.prometheus)
    window = f"{max(4 * interval, 1):g}s"
    step = max(interval, (end - start) / 600)
    substitutions = {"$instance": ".*", "$__rate_interval": window, "$__range": f"{int(end - start)}s"}

    rows = -(-len(PANELS) // args.columns)
    figure, axes = plt.subplots(rows, args.columns, figsize=(6.4 * args.columns, 3.6 * rows), squeeze=False)
    for axis, (title, ref_ids) in zip(axes.flat, PANELS):
        panel = panels[title]
        factor, unit = UNITS.get(panel["fieldConfig"]["defaults"].get("unit", ""), (1, ""))
        if panel["fieldConfig"]["defaults"].get("unit", "").startswith("suffix:"):
            unit = panel["fieldConfig"]["defaults"]["unit"].split(":", 1)[1].strip()
        silent = []
        for target in panel["targets"]:
            if ref_ids is not None and target["refId"] not in ref_ids:
                continue
            expr = target["expr"]
            for variable, value in substitutions.items():
                expr = expr.replace(variable, value)
            result = api(args.prometheus, "/api/v1/query_range", query=expr, start=start, end=end, step=step)["result"]
            for series in sorted(result, key=lambda s: legend(target["legendFormat"], s["metric"])):
                name = legend(target["legendFormat"], series["metric"])
                points = [(float(t) - start, float(v) * factor) for t, v in series["values"] if v not in ("NaN", "+Inf", "-Inf")]
                if not points or all(v == 0 for _, v in points):
                    silent.append(name)
                    continue
                xs, ys = [], []
                for t, v in points:
                    if xs and t - xs[-1] > 1.5 * step:   # no value there (e.g. a quantile of no requests)
                        xs.append(float("nan"))
                        ys.append(float("nan"))
                    xs.append(t)
                    ys.append(v)
                axis.plot(xs, ys, label=name, linewidth=1.2)
        axis.set_title(title, fontsize=10)
        axis.set_ylabel(unit, fontsize=8)
        axis.set_xlim(0, end - start)
        axis.set_ylim(bottom=0)
        axis.tick_params(labelsize=8)
        axis.grid(True, linewidth=0.3)
        note = None
        if silent:
            note = "zero throughout: " + ", ".join(silent[:3]) + (f" and {len(silent) - 3} more" if len(silent) > 3 else "")
        if axis.get_lines():
            axis.legend(fontsize=7, loc="best", ncol=2 if len(axis.get_lines()) > 4 else 1,
                        title=note, title_fontsize=6.5)
        elif note:
            axis.text(0.5, 0.5, note, transform=axis.transAxes, ha="center", fontsize=7, color="grey")
    for axis in axes.flat[len(PANELS):]:
        axis.set_visible(False)
    for axis in axes[-1]:
        axis.set_xlabel("seconds into the run", fontsize=8)
    figure.suptitle(args.title or f"Prometheus, scrape every {interval:g} s, rates over {window}", fontsize=12)
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    figure.savefig(args.output, dpi=90)
    print(f"plot_metrics: wrote {args.output} ({len(PANELS)} panels, {end - start:.0f} s from {args.prometheus})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
