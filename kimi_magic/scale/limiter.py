"""How many requests may be in flight: fewer after a rate limit, more after successes (AIMD).

Only the job's dispatcher thread touches it, so it needs no lock.
"""

from __future__ import annotations

# After a rate limit, halve at most once per this many seconds: one burst of 429s from the
# requests already in flight is one signal, not thirty.
DECREASE_COOLDOWN_S = 1.0
DECREASE_FACTOR = 0.5


class AdaptiveLimit:
    """The current limit between `minimum` and `maximum`, and when launching may resume."""

    def __init__(self, maximum: int, minimum: int = 1) -> None:
        self.maximum = max(1, maximum)
        self.minimum = max(1, min(minimum, self.maximum))
        self.limit = self.maximum
        self.in_flight = 0
        self.paused_until = 0.0
        self._successes = 0
        self._last_decrease = -DECREASE_COOLDOWN_S

    def can_launch(self, now: float) -> bool:
        return self.in_flight < self.limit and now >= self.paused_until

    def launched(self) -> None:
        self.in_flight += 1

    def finished(self) -> None:
        self.in_flight -= 1

    def succeeded(self) -> None:
        """Additive increase: one more slot after `limit` successes in a row."""
        self._successes += 1
        if self._successes >= self.limit and self.limit < self.maximum:
            self.limit += 1
            self._successes = 0

    def throttled(self, now: float, retry_after: float | None) -> None:
        """A 429 / 3040: fewer in flight, and no launch before the server's Retry-After."""
        self._successes = 0
        if now - self._last_decrease >= DECREASE_COOLDOWN_S:
            self.limit = max(self.minimum, int(self.limit * DECREASE_FACTOR))
            self._last_decrease = now
        if retry_after is not None:  # without one, fewer in flight is the whole answer
            self.paused_until = max(self.paused_until, now + retry_after)
