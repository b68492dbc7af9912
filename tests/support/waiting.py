"""Bounded waits: nothing here blocks forever."""

from __future__ import annotations

import time
from typing import Any, Callable

WAIT = 5.0  # default seconds for one expected event


def poll(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Calls `predicate` until it returns something truthy or `timeout` has passed; returns its
    last value, so the caller asserts on it (`assert poll(...), "why"`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def wait_until(predicate: Callable[[], Any], timeout: float = WAIT, interval: float = 0.05,
               message: str = "condition", *, retry_errors: bool = False) -> Any:
    """Calls `predicate` until it returns something truthy and returns that; raises
    AssertionError naming `message` after `timeout`. With `retry_errors`, an exception of the
    predicate (a stale page element, say) counts as "not yet" and is named in the failure."""
    deadline = time.monotonic() + timeout
    last: Any = None
    last_exc: Exception | None = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - only with retry_errors
            if not retry_errors:
                raise
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = f"last error {last_exc!r}" if last_exc else f"last value {last!r}"
            raise AssertionError(f"timed out after {timeout}s waiting for {message} ({detail})")
        time.sleep(interval)
