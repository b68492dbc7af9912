"""schemathesis hooks of tests/service/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

An auction must end within the coming year, a rule no JSON Schema can state: a generated
`endsAt` that is a valid RFC 3339 time is moved into the coming day, so that generated auctions
are created and the stateful links from POST /items (get item, list bids) are followed. Invalid
times are left as they are, so invalid bodies stay invalid."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import schemathesis

from support.rest import now_utc, rfc3339

RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


def is_valid_time(text: str) -> bool:
    if not RFC3339.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@schemathesis.hook
def map_body(context, body):
    operation = getattr(context, "operation", None)
    if operation is None or (operation.method.upper(), operation.path) != ("POST", "/items"):
        return body
    if isinstance(body, dict) and isinstance(body.get("endsAt"), str) and is_valid_time(body["endsAt"]):
        return {**body, "endsAt": rfc3339(now_utc() + timedelta(hours=1))}
    return body
