"""Results back in the input's shape: a list, or a DataFrame with the input's index."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .source import Source
from .state import JobState, as_markdown

ANSWER = "answer"
ERROR = "error"


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

    def __str__(self) -> str:
        lines = [
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


class MapResults(list):  # type: ignore[type-arg]
    """The answers of a list input, in its order (None where an item failed or was not sent);
    `.errors` maps a position to its error, `.summary` tells how the job went."""

    errors: dict[int, str]
    summary: MapSummary | None

    def __init__(self, values: list[Any], errors: dict[int, str], summary: MapSummary | None):
        super().__init__(values)
        self.errors = errors
        self.summary = summary


def aligned(
    source: Source,
    values: list[Any],
    errors: dict[int, str],
    summary: MapSummary | None,
    expand: bool,
) -> Any:
    """`values` (one per item, None when missing) in the input's shape."""
    if source.kind == "list":
        return MapResults(values, errors, summary)
    import pandas as pd

    rows = [_as_row(v) if expand else None for v in values]
    if expand and any(r is not None for r in rows):
        frame = pd.DataFrame([r or {} for r in rows], index=source.index)
    else:
        frame = pd.DataFrame({ANSWER: values}, index=source.index)
    frame[ERROR] = [errors.get(i) for i in range(len(values))]
    if summary is not None:
        frame.attrs["kimi_map"] = str(summary)
    return frame


def _as_row(value: Any) -> dict[str, Any] | None:
    """A structured answer as columns: a dict's keys, a pydantic model's fields."""
    if hasattr(value, "model_dump"):
        dumped = value.model_dump()
        return dumped if isinstance(dumped, dict) else None
    return value if isinstance(value, dict) else None
