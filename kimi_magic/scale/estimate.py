"""The tokens and cost of a whole job, told before anything is sent (`dry_run=True`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..core.constants import CHARS_PER_TOKEN
from ..core.types import Usage
from .state import as_markdown

# Without max_completion_tokens, an answer is assumed this long (reasoning included).
ASSUMED_COMPLETION_TOKENS = 500


@dataclass(frozen=True)
class Estimate:
    """Estimated usage of a job; `items` None when the input's length is unknown."""

    items: int | None
    usage: Usage
    completion_per_item: int
    assumed: bool  # completion tokens are a guess (max_completion_tokens unset)
    resumed: int = 0  # items the checkpoint already holds (not counted above)
    batch: bool = False

    @property
    def cost(self) -> float:
        return self.usage.cost

    def __str__(self) -> str:
        if self.items is None:
            return (
                "The input's length is unknown (an iterator), so the job's cost cannot be told "
                "in advance; pass a list or a DataFrame to see it."
            )
        u = self.usage
        how = "Cloudflare's async batch" if self.batch else "concurrent requests"
        guess = (
            f"answers assumed {self.completion_per_item:,} tokens each; set "
            "max_completion_tokens to bound them"
            if self.assumed
            else f"answers at most {self.completion_per_item:,} tokens each"
        )
        resumed = f" ({self.resumed:,} more already done in the checkpoint)" if self.resumed else ""
        return (
            f"{self.items:,} items to send{resumed} by {how}: about {u.prompt_tokens:,} prompt "
            f"tokens ({u.cached_tokens:,} of them the shared instruction, likely cached) and "
            f"up to {u.completion_tokens:,} completion tokens ({guess}); estimated cost "
            f"${self.cost:.4f}."
        )

    def __repr__(self) -> str:
        return f"kimi map estimate: {self}"

    def _repr_markdown_(self) -> str:
        return f"**kimi map estimate:** {as_markdown(str(self))}"


def estimate(
    prompt_chars: Iterable[int],
    shared_chars: int,
    max_completion_tokens: int | None,
    resumed: int = 0,
    batch: bool = False,
) -> Estimate:
    """From each item's prompt length (system + user) and the shared prefix's length."""
    items = 0
    prompt_tokens = 0
    for chars in prompt_chars:
        items += 1
        prompt_tokens += -(-chars // CHARS_PER_TOKEN)
    shared = shared_chars // CHARS_PER_TOKEN
    cached = shared * max(items - 1, 0)  # every request after the first finds the prefix
    per_item = max_completion_tokens or ASSUMED_COMPLETION_TOKENS
    usage = Usage(prompt_tokens, cached, per_item * items)
    return Estimate(items, usage, per_item, max_completion_tokens is None, resumed, batch)
