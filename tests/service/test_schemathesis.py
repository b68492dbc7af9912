"""schemathesis (PyPI) against the running service with the service's own document
(GET /openapi.json): every operation, bodies and parameters generated from the schemas (valid
and invalid ones), the document's links followed in stateful sequences (register -> login ->
refresh, create item -> get item -> list bids), a bounded number of examples per operation, and
every check schemathesis has: no 5xx, documented statuses, media types, headers and bodies,
invalid input refused, authentication not ignored.

Authentication is the suite's: a sign-in from `new_user` as the Bearer token of every operation
that takes one, and another user's for POST /auth/logout, so that generated logouts end only
that sign-in. Generated logins all come from 127.0.0.1 and fail: the per-address failure limit
answers 429 RATE_LIMITED after 100, which is a documented answer.

Run it alone: .data/venv/bin/python -m pytest tests/service/test_schemathesis.py -q -s
SCHEMATHESIS_MAX_EXAMPLES (default 100) sets the examples per operation and phase."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from service_helpers import new_user

HERE = Path(__file__).resolve().parent
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "100"))
OPERATION_LABEL = re.compile(r"[A-Z]+ /\S*")
# positive_data_acceptance is left out: the server's rules that JSON Schema cannot say (an email
# with one "@" and a dotted domain, a password of 8 to 72 *bytes*, text trimmed before its length
# is counted, an end time in the future) refuse some schema-valid bodies with the documented
# 400 INVALID_INPUT. Everything the schemas refuse must still be refused (negative_data_rejection).
EXCLUDED_CHECKS = "positive_data_acceptance"
RUN_SECONDS = 240


def schemathesis_command(url: str, document: Path, config: Path, report_dir: Path) -> list[str]:
    # The document from a file: loaded from the server's URL, schemathesis skips the operation
    # that serves it.
    return [
        str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(config), "--no-color",
        "run", str(document), "--url", url,
        "--checks", "all", "--exclude-checks", EXCLUDED_CHECKS,
        "--phases", "coverage,fuzzing,stateful",
        "--max-examples", str(MAX_EXAMPLES),
        "--workers", "2",
        "--request-timeout", "20",
        "--generation-database", "none",
        "--report", "ndjson", "--report-dir", str(report_dir),
        "--output-sanitize", os.environ.get("SCHEMATHESIS_SANITIZE", "true"),
    ]


def config_text(token: str, logout_token: str) -> str:
    return f"""
[auth.openapi.bearerAuth]
bearer = "{token}"

# Per operation only headers can be set (not an auth scheme): they take the place of the token.
[[operations]]
include-operation-id = "logout"
headers = {{ Authorization = "Bearer {logout_token}" }}
"""


def counts(report_dir: Path) -> tuple[set[str], Counter]:
    """The operations schemathesis tested, and the requests it sent in each phase, from its NDJSON
    events (one `ScenarioFinished` per operation and phase, or per stateful sequence)."""
    operations: set[str] = set()
    sent: Counter = Counter()
    for path in report_dir.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            finished = json.loads(line).get("ScenarioFinished")
            if not finished or not finished.get("recorder"):
                continue
            recorder = finished["recorder"]
            sent[str(finished.get("phase"))] += len(recorder.get("interactions", {}))
            if OPERATION_LABEL.fullmatch(recorder.get("label", "")):
                operations.add(recorder["label"])
    return operations, sent


@pytest.mark.timeout(RUN_SECONDS + 60)
def test_schemathesis_finds_no_failure(api, stack, tmp_path, capsys):
    user = new_user(api, name="Schemathesis")
    logout_user = new_user(api, name="Schemathesis logout")
    config = tmp_path / "schemathesis.toml"
    config.write_text(config_text(user.token, logout_user.token))
    report_dir = tmp_path / "report"
    document = api.get("/openapi.json").json()
    documented = {f"{m.upper()} {p}" for p, item in document["paths"].items() for m in item}
    (tmp_path / "openapi.json").write_text(json.dumps(document))

    started = time.monotonic()
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run(schemathesis_command(stack.url, tmp_path / "openapi.json", config, report_dir), capture_output=True, text=True,
                         timeout=RUN_SECONDS, cwd=tmp_path, env=env)
    seconds = time.monotonic() - started
    tested, sent = counts(report_dir)
    summary = (f"schemathesis: {len(tested)} of {len(documented)} operations, {sum(sent.values())} test cases "
               f"({', '.join(f'{phase} {n}' for phase, n in sorted(sent.items()))}) in {seconds:.0f} s, "
               f"at most {MAX_EXAMPLES} examples per operation and phase; exit {out.returncode}")
    with capsys.disabled():  # in `make test` output too, where pytest captures what tests print
        print("\n" + summary)
    print(out.stdout[-6000:])
    assert out.returncode == 0, f"{summary}\n{out.stdout[-20000:]}\n{out.stderr[-4000:]}"
    assert tested == documented, f"not tested: {sorted(documented - tested)}"
    assert stack.alive(), "auction serve exited during the run"
