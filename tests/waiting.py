"""Waiting on events in tests, with hang guards instead of performance thresholds.

`wait_until` polls a condition until it holds and fails with a message saying what never
happened; `finishes` runs a call that must not block on a worker thread and fails the same way
when it is still running. Their limits are generous on purpose: they only stop a test that
would otherwise hang, so a busy machine makes a test slower, never red.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Long enough that no load we have seen reaches it; a test that gets there is hanging.
HANG_GUARD_S = 60.0
POLL_S = 0.01


def wait_until(condition: Callable[[], T], what: str, timeout: float = HANG_GUARD_S) -> T:
    """The first truthy `condition()`; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()  # never set: its wait is the pause between polls
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"Waited {timeout:g} s for {what}; it never happened.")
        pause.wait(POLL_S)


def finishes(call: Callable[[], T], what: str, timeout: float = HANG_GUARD_S) -> T:
    """`call()`'s result (or its exception), run on a thread; AssertionError naming `what` if
    it is still running after `timeout` seconds (a hang guard, not a speed limit)."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # handed to the caller as it is
            outcome["error"] = error

    worker = threading.Thread(target=target, name="finishes", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise AssertionError(f"{what} was still running after {timeout:g} s: it hangs.")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def accepting(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server accepts connections on `port` (a condition for `wait_until`)."""
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError:
        return False
    return True
