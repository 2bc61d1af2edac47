"""Fitting a request to the context window: the oldest whole turns are left out first, and a
prompt that cannot fit even alone is refused before anything is sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..core.errors import ConfigurationError
from ..core.messages import Message
from ..core.tokens import message_tokens


@dataclass(frozen=True)
class Trimmed:
    messages: list[Message]
    tokens: int  # the estimate of what is sent
    dropped_turns: int = 0
    dropped_tokens: int = 0

    @property
    def note(self) -> str:
        """The visible note when older turns were left out; empty when nothing was."""
        if not self.dropped_turns:
            return ""
        turns = "turn" if self.dropped_turns == 1 else "turns"
        return (
            f"Note: the {self.dropped_turns} oldest {turns} of this conversation (about "
            f"{self.dropped_tokens:,} tokens) were left out so the request fits the context "
            "window; the newest turns were sent. They stay in `%kimi history`."
        )


def fit_to_context(messages: Sequence[Message], budget_tokens: int) -> Trimmed:
    """Drop the oldest whole turns (a user message and its replies) until the estimate fits.

    System messages at the head and the newest turn are always kept.
    """
    messages = list(messages)
    head = 0
    while head < len(messages) and messages[head].role == "system":
        head += 1
    system, rest = messages[:head], messages[head:]
    turns: list[list[Message]] = []
    for message in rest:
        if message.role == "user" or not turns:
            turns.append([])
        turns[-1].append(message)
    total = sum(message_tokens(m) for m in messages)
    dropped = dropped_tokens = 0
    while total > budget_tokens and len(turns) > 1:
        turn = turns.pop(0)
        size = sum(message_tokens(m) for m in turn)
        total -= size
        dropped += 1
        dropped_tokens += size
    kept = [m for turn in turns for m in turn]
    return Trimmed([*system, *kept], total, dropped, dropped_tokens)


def refuse_if_too_long(trimmed: Trimmed, budget_tokens: int, window: int) -> None:
    """Even with all history left out the request would overflow: say so, send nothing."""
    if trimmed.tokens <= budget_tokens:
        return
    raise ConfigurationError(
        f"This prompt is about {trimmed.tokens:,} tokens (estimated at ~4 characters a token), "
        f"more than the {budget_tokens:,} that fit the {window:,}-token context window with "
        "room kept for the answer, so nothing was sent. Cut what it attaches: fewer or smaller "
        "{variables} (lower variable_tokens / context_tokens), fewer images, a shorter system "
        "prompt; or lower max_completion_tokens to keep less room for the answer."
    )
