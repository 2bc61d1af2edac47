"""The running totals of one job, what the progress views show and the summary reports."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..core.constants import PRICE_CACHED_INPUT_PER_M, PRICE_INPUT_PER_M
from ..core.types import Usage


@dataclass
class JobState:
    """Counts so far; `usage` is what this run paid for (resumed items cost nothing now)."""

    total: int | None
    done: int = 0
    failed: int = 0
    resumed: int = 0
    retrying: int = 0  # waiting to be sent again after a 429 / 3040 / 5xx
    in_flight: int = 0
    limit: int = 0
    usage: Usage = field(default_factory=Usage)
    started: float = field(default_factory=time.monotonic)
    phase: str = "running"  # batch: submitting, queued, running, done
    stopped: str = ""  # why launching stopped early: "Stop", "interrupt", "cost cap $X"

    @property
    def finished(self) -> int:
        return self.done + self.failed + self.resumed

    @property
    def cost(self) -> float:
        return self.usage.cost

    @property
    def cached_savings(self) -> float:
        """What the cached prompt tokens would have cost at the uncached price, less their price."""
        rate = PRICE_INPUT_PER_M - PRICE_CACHED_INPUT_PER_M
        return self.usage.cached_tokens * rate / 1_000_000

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left at the pace of this run so far, when it can be told."""
        ran = self.done + self.failed
        if self.total is None or ran == 0:
            return None
        elapsed = (time.monotonic() if now is None else now) - self.started
        return max(self.total - self.finished, 0) * elapsed / ran

    def line(self) -> str:
        """`412/1,000 done · 3 failed · 2 retrying · 18,230 tokens · $0.0213 · ETA 4 s`."""
        total = "?" if self.total is None else f"{self.total:,}"
        parts = [f"{self.done + self.resumed:,}/{total} done"]
        if self.resumed:
            parts.append(f"{self.resumed:,} from the checkpoint")
        parts.append(f"{self.failed:,} failed")
        if self.retrying:
            parts.append(f"{self.retrying:,} retrying")
        if self.phase not in ("running", "done"):
            parts.append(self.phase)
        parts.append(f"{self.usage.total_tokens:,} tokens")
        parts.append(f"${self.cost:.4f}")
        eta = self.eta()
        if eta is not None and not self.stopped and self.finished < (self.total or 0):
            parts.append(f"ETA {_duration(eta)}")
        if self.stopped:
            parts.append(f"stopped: {self.stopped}")
        return " · ".join(parts)


def as_markdown(text: str) -> str:
    """Plain text for a markdown output, where two `$` would make LaTeX math of what is
    between them: MathJax typesets the rendered page (where `\\$` and `&#36;` are a `$`
    again), so the text goes in a span it is told to skip."""
    body = text.replace("$", "&#36;").replace("\n", "<br>\n")
    return f'<span class="tex2jax_ignore mathjax_ignore">{body}</span>'


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
