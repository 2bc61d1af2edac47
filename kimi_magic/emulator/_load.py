"""Load shaping for map and batch tests: latency per request, a share of 429 / 3040 answers,
and how many polls a batch stays queued and running before its results are ready."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

RATE_LIMITED = "AiError: Too many requests, please slow down."


@dataclass(frozen=True)
class Load:
    """latency: seconds before each answered request starts; rate_limited: the share of
    requests answered HTTP 429; capacity: the share answered 200 + a JSON 3040 error;
    retry_after: the Retry-After sent with the 429s; batch_polls: polls a batch is answered
    queued (the first half) and running (the rest) before its results; batch_wrapped: every
    third batch result wrapped one level deeper (`{"result": completion}`), as some of the
    documentation shows; seed: repeatable draws."""

    latency: float = 0.0
    rate_limited: float = 0.0
    capacity: float = 0.0
    retry_after: float | None = None
    batch_polls: int = 1
    batch_wrapped: bool = False
    seed: int | None = None


LOAD_KEYS = tuple(Load.__dataclass_fields__)


class LoadShaper:
    """Draws, per request, whether it is refused, and counts the model requests in flight
    (from when one is read to when its response starts): `most_in_flight` is the most there
    were at once since the last reset. Thread safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.load = Load()
        self.baseline = Load()  # what reset() returns to (the command line's settings)
        self._random = random.Random()
        self.refused = 0
        self.in_flight = 0
        self.most_in_flight = 0

    def enter(self) -> None:
        """A model request was read: one more in flight."""
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def leave(self) -> None:
        """Its response starts (before any byte of it is sent): one fewer in flight."""
        with self._lock:
            self.in_flight -= 1

    def configure(self, **changes: Any) -> Load:
        """Change some settings (the rest stay); returns the new load."""
        unknown = set(changes) - set(LOAD_KEYS)
        if unknown:
            raise ValueError(f"Unknown load settings {sorted(unknown)}; known: {LOAD_KEYS}.")
        with self._lock:
            load = Load(**{**self.load.__dict__, **changes})
            _check(load)
            self.load = load
            self._random = random.Random(load.seed)
        return load

    def reset(self) -> None:
        with self._lock:
            self.load = self.baseline
            self._random = random.Random()
            self.refused = 0
            self.most_in_flight = self.in_flight

    def fault(self) -> dict[str, Any] | None:
        """A fault for this request (429, or 200 + a JSON 3040 error), or None to answer it."""
        with self._lock:
            load = self.load
            draw = self._random.random()
            if draw >= load.rate_limited + load.capacity:
                return None
            self.refused += 1
        fault: dict[str, Any]
        if draw < load.rate_limited:
            fault = {"type": "http_error", "status": 429, "code": 3040, "message": RATE_LIMITED}
            if load.retry_after is not None:
                fault["retry_after"] = load.retry_after
        else:
            fault = {"type": "json_error_200", "code": 3040}
        return fault


def _check(load: Load) -> None:
    for name in ("rate_limited", "capacity"):
        share = getattr(load, name)
        if not 0 <= share <= 1:
            raise ValueError(f"{name} must be a share from 0 to 1, not {share!r}.")
    if load.rate_limited + load.capacity > 1:
        raise ValueError("rate_limited + capacity must not exceed 1.")
    if load.latency < 0 or load.batch_polls < 0:
        raise ValueError("latency and batch_polls must not be negative.")
