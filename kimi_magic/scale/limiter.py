"""How many requests may be in flight: fewer after rate limits, more after successes (AIMD).

The decrease is sized by the share of recent answers that were refused: a few 429s among
many successes trim the limit a little, a wall of them halves it. Only the job's dispatcher
thread touches this, so it needs no lock.
"""

from __future__ import annotations

# Decrease at most once per this many seconds: one burst of 429s from the requests already
# in flight is one signal, not thirty.
DECREASE_COOLDOWN_S = 1.0
# With every recent answer refused the limit halves; with a share s refused it is cut by s/2.
MAX_DECREASE = 0.5


class AdaptiveLimit:
    """The current limit between `minimum` and `maximum`, and when launching may resume."""

    def __init__(self, maximum: int, minimum: int = 1) -> None:
        self.maximum = max(1, maximum)
        self.minimum = max(1, min(minimum, self.maximum))
        self.limit = self.maximum
        self.in_flight = 0
        self.paused_until = 0.0
        self._successes = 0  # since the last increase
        self._ok = 0  # since the last decrease
        self._refused = 0
        self._last_decrease = -DECREASE_COOLDOWN_S

    def can_launch(self, now: float) -> bool:
        return self.in_flight < self.limit and now >= self.paused_until

    def launched(self) -> None:
        self.in_flight += 1

    def finished(self) -> None:
        self.in_flight -= 1

    def succeeded(self) -> None:
        """Additive increase: one more slot after a limit's worth of successes."""
        self._ok += 1
        self._successes += 1
        if self._successes >= self.limit and self.limit < self.maximum:
            self.limit += 1
            self._successes = 0

    def throttled(self, now: float, retry_after: float | None) -> None:
        """A 429 / 3040: fewer in flight, and no launch before the server's Retry-After."""
        self._refused += 1
        if now - self._last_decrease >= DECREASE_COOLDOWN_S:
            # Over at least a limit's worth of answers: the first 429 of a job is one in many.
            share = self._refused / max(self._refused + self._ok, self.limit)
            self.limit = max(self.minimum, int(self.limit * (1 - MAX_DECREASE * share)))
            self._last_decrease = now
            self._ok = self._refused = 0
        if retry_after is not None:  # without one, fewer in flight is the whole answer
            self.paused_until = max(self.paused_until, now + retry_after)
