"""The overall time limit of one call (`call_timeout`): a trickling server never trips the
read timeout, so the limit is checked as bytes arrive and caps the wait for the headers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx


class CallTimeUp(Exception):
    """The call's overall time limit passed while bytes were still coming."""


def until(chunks: Iterator[bytes], deadline: float | None) -> Iterator[bytes]:
    """The chunks, ending with CallTimeUp once `deadline` passed (a trickle never times out)."""
    for chunk in chunks:
        if deadline is not None and time.monotonic() > deadline:
            raise CallTimeUp
        yield chunk


def limit_wait(request: httpx.Request, deadline: float | None) -> None:
    """Cap the wait for the headers at what is left of the call's time limit."""
    if deadline is None:
        return
    left = max(deadline - time.monotonic(), 0.001)
    timeout = dict(request.extensions.get("timeout") or {})
    for phase in ("connect", "read", "write", "pool"):
        current = timeout.get(phase)
        timeout[phase] = left if current is None else min(current, left)
    request.extensions["timeout"] = timeout
