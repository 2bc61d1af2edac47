"""How a map job went: counts, tokens, cached tokens, cost, and why it stopped."""

from __future__ import annotations

from dataclasses import dataclass

from .state import JobState, as_markdown


@dataclass(frozen=True)
class MapSummary:
    """How a job went: counts, what this run paid, cached tokens and what they saved."""

    total: int
    done: int
    failed: int
    resumed: int
    not_run: int
    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    cost: float
    cached_savings: float
    seconds: float
    stopped: str
    checkpoint: str | None
    note: str = ""  # one line on how the job ran (batch mode passing by an AI Gateway)

    def __str__(self) -> str:
        lines = [self.note] if self.note else []
        lines += [
            f"{self.done + self.resumed:,} of {self.total:,} items answered"
            + (f" ({self.resumed:,} from the checkpoint)" if self.resumed else "")
            + f", {self.failed:,} failed, {self.not_run:,} not sent"
            + (f" (stopped: {self.stopped})" if self.stopped else "")
            + f", in {self.seconds:.1f} s.",
            f"This run: {self.prompt_tokens:,} prompt tokens ({self.cached_tokens:,} cached, "
            f"saving ${self.cached_savings:.4f}), {self.completion_tokens:,} completion tokens, "
            f"${self.cost:.4f}.",
        ]
        if self.failed or self.not_run:
            again = "Run the same call again to send only the missing items"
            lines.append(again + (f" (checkpoint {self.checkpoint})." if self.checkpoint else "."))
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return "**kimi map:** " + as_markdown(str(self))


def summary_of(state: JobState, total: int, elapsed: float, checkpoint: str | None) -> MapSummary:
    u = state.usage
    not_run = max(total - state.finished, 0)
    return MapSummary(
        total,
        state.done,
        state.failed,
        state.resumed,
        not_run,
        u.prompt_tokens,
        u.cached_tokens,
        u.completion_tokens,
        u.cost,
        state.cached_savings,
        elapsed,
        state.stopped,
        checkpoint,
    )
