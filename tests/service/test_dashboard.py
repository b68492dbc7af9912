"""The Grafana dashboard (deploy/grafana/auction.json) against the running service: it is an
importable dashboard (schemaVersion, a Prometheus datasource variable, every panel with a
target), and every PromQL query in it names only series that GET /metrics exposes (Grafana is not
packaged here, so this is what keeps the dashboard from drifting from the service). Metric names
come out of each expression with a small PromQL tokenizer: every identifier that is not a
function or aggregation call, a keyword, a label name (inside {} or by/without/on/ignoring(…)),
a string, a duration or a Grafana variable."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "auction.json"

AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
                "topk", "quantile", "limitk", "limit_ratio"}
# Followed by a parenthesised list of label names (optional after group_left / group_right).
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = {"offset", "bool", "and", "or", "unless", "atan2", "inf", "nan"}

TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<variable>\$\{[^}]*\}|\$\w+)
  | (?P<number>(?:0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?:ms|[smhdwy])?)
  | (?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<open>[({\[])
  | (?P<close>[)}\]])
  | (?P<operator>==|!=|=~|!~|<=|>=|[-+*/%^<>=,:@])
""", re.VERBOSE)
CLOSING = {"(": ")", "{": "}", "[": "]"}


def tokens(expr: str) -> list[tuple[str, str]]:
    out, at = [], 0
    while at < len(expr):
        m = TOKEN.match(expr, at)
        if not m:
            raise ValueError(f"cannot read {expr[at:at + 20]!r} at {at} of {expr!r}")
        at = m.end()
        if m.lastgroup != "space":
            out.append((m.lastgroup, m.group()))
    return out


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (also `{__name__="…"}`)."""
    toks = tokens(expr)
    open_brackets = []
    for kind, text in toks:
        if kind == "open":
            open_brackets.append(text)
        elif kind == "close" and (not open_brackets or CLOSING[open_brackets.pop()] != text):
            raise ValueError(f"unbalanced {text!r} in {expr!r}")
    if open_brackets:
        raise ValueError(f"unclosed {open_brackets[-1]!r} in {expr!r}")
    names: set[str] = set()
    i = 0

    def skip_group(start: int) -> int:
        """Index after the bracket opened at toks[start]; collects __name__ matchers on the way."""
        opener = toks[start][1]
        j = start + 1
        while j < len(toks) and toks[j][1] != CLOSING[opener]:
            if (opener == "{" and toks[j] == ("name", "__name__") and j + 2 < len(toks)
                    and toks[j + 1][1] == "=" and toks[j + 2][0] == "string"):
                names.add(toks[j + 2][1][1:-1])
            j += 1
        return j + 1

    while i < len(toks):
        kind, text = toks[i]
        following = toks[i + 1][1] if i + 1 < len(toks) else None
        if kind == "open" and text in "{[":
            i = skip_group(i)   # label matchers, or a range / subquery duration
            continue
        if kind == "name":
            if text in LABEL_LIST_KEYWORDS:
                i = skip_group(i + 1) if following == "(" else i + 1
                continue
            if text not in KEYWORDS and text not in AGGREGATIONS and following != "(":
                names.add(text)
        i += 1
    return names


def queries(dashboard: dict) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((f"panel {panel['title']!r} target {target.get('refId')}", target["expr"]))
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            # Grafana's label_values(selector, label): only its selector is PromQL.
            m = re.fullmatch(r"\s*label_values\((.*),\s*[a-zA-Z_]\w*\s*\)\s*", query)
            found.append((f"variable ${variable['name']}", m.group(1) if m else query))
    return found


def unknown_names(dashboard: dict, exposed: set[str]) -> dict[str, set[str]]:
    """Queries naming a series the service does not expose (or naming none), with those names."""
    problems = {}
    for where, expr in queries(dashboard):
        names = metric_names(expr)
        missing = names - exposed
        if missing or not names:
            problems[f"{where}: {expr}"] = missing or {"(no metric at all)"}
    return problems


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


@pytest.fixture(scope="module")
def exposed(stack) -> set[str]:
    """Every sample name of a scrape, after a request of each kind the HTTP panels show (the
    per-route series appear with their route's first request)."""
    assert requests.get(stack.url + "/healthz", timeout=10).status_code == 200
    assert requests.get(stack.url + "/items", timeout=10).status_code == 200
    r = requests.get(stack.url + "/metrics", timeout=15)
    assert r.status_code == 200, r.text
    return {s.name for family in text_string_to_metric_families(r.text) for s in family.samples}


def test_the_dashboard_is_importable(dashboard):
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 30
    assert dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), ids
    for panel in dashboard["panels"]:
        assert panel["type"] in {"timeseries", "stat"}, panel["title"]
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel.get("targets"), f"panel {panel['title']!r} has no target"
        for target in panel["targets"]:
            assert target["expr"].strip() and target["refId"], (panel["title"], target)
            assert target.get("datasource", panel["datasource"]) == panel["datasource"], (panel["title"], target)


def test_the_extractor_reads_promql():
    assert metric_names('sum by (result) (rate(auction_bids_total{instance=~"$instance", result!="x"}[$__rate_interval]))') \
        == {"auction_bids_total"}
    assert metric_names("histogram_quantile(0.99, sum without (instance) (rate(a_bucket[5m] offset 1h30m)))") \
        == {"a_bucket"}
    assert metric_names("a_sum / on (instance) group_left (route) b_count > bool 0.5 unless c or d and time() - e") \
        == {"a_sum", "b_count", "c", "d", "e"}
    assert metric_names("max_over_time(rate(f_total[1m])[10m:30s]) + min(g) by (le) + 1e3") == {"f_total", "g"}
    assert metric_names('{__name__="h_seconds_count", job="auction"} * sum by(le)(i)') == {"h_seconds_count", "i"}
    assert metric_names('count(count by (sum) (j{by="by"}))') == {"j"}
    with pytest.raises(ValueError):
        metric_names("rate(k[5m]")


def test_every_query_names_only_series_the_service_exposes(dashboard, exposed):
    assert len(queries(dashboard)) >= 20
    assert unknown_names(dashboard, exposed) == {}


def test_a_planted_unknown_metric_is_found(dashboard, exposed):
    """The check can fail: a target naming a series the service does not have is reported, and
    so is a known family with a suffix it does not have."""
    planted = copy.deepcopy(dashboard)
    planted["panels"][0]["targets"].append(
        {"refId": "Z", "expr": 'sum by (result) (rate(auction_bidz_total{result="accepted"}[5m]))'})
    planted["panels"][1]["targets"].append({"refId": "Z", "expr": "rate(auction_bids_sum[5m])"})
    problems = unknown_names(planted, exposed)
    assert sorted(problems.values(), key=sorted) == [{"auction_bids_sum"}, {"auction_bidz_total"}], problems
