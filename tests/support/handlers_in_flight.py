"""Waiting for a python-socketio client's event handlers, so that a marker event proves what
it should (the recording clients of the outside-in and cluster-protocol suites)."""

from __future__ import annotations

import threading
import time


class HandlersInFlight:
    """Counts the Engine.IO message handlers of one python-socketio client still running.

    python-engineio hands each received message to a thread of its own, so a later message's
    handler (a marker's, say) may finish before an earlier one's. The count goes up on the
    transport's read loop, in arrival order; so once a marker has been recorded and the count
    is back to zero, every message received before the marker has been handled."""

    def __init__(self, eio):
        self._cond = threading.Condition()
        self._running = 0
        original = eio._trigger_event

        def trigger(event, *args, **kwargs):
            handler = eio.handlers.get(event)
            if event != "message" or not kwargs.get("run_async") or handler is None:
                return original(event, *args, **kwargs)
            with self._cond:
                self._running += 1

            def run(*a):
                try:
                    return handler(*a)
                finally:
                    with self._cond:
                        self._running -= 1
                        self._cond.notify_all()
            return eio.start_background_task(run, *args)

        eio._trigger_event = trigger

    def wait_idle(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self._running} message handler(s) still running after {timeout}s")
                self._cond.wait(remaining)
