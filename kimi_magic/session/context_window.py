"""Fitting a request to the context window: the oldest whole turns are left out first, and a
prompt that cannot fit even alone is refused before anything is sent."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ..core.constants import CONTEXT_RESERVE_TOKENS, CONTEXT_WINDOW_TOKENS
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


def fit_to_context(
    messages: Sequence[Message], budget_tokens: int, pinned: Collection[Message] = ()
) -> Trimmed:
    """Drop the oldest whole turns (a user message and its replies) until the estimate fits.

    System messages at the head, the newest turn and the turns whose question is in `pinned`
    (`%kimi pin`, by identity) are always kept.
    """
    keep = {id(m) for m in pinned}
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
    while total > budget_tokens:
        droppable = [i for i, t in enumerate(turns[:-1]) if id(t[0]) not in keep]
        if not droppable:
            break
        turn = turns.pop(droppable[0])
        size = sum(message_tokens(m) for m in turn)
        total -= size
        dropped += 1
        dropped_tokens += size
    kept = [m for turn in turns for m in turn]
    return Trimmed([*system, *kept], total, dropped, dropped_tokens)


def check_window(window: int, reserve: int) -> None:
    """Refuse a context window with no room for a prompt after the room kept for the answer
    (`reserve`: max_completion_tokens, or CONTEXT_RESERVE_TOKENS when it is unset)."""
    if window > reserve:
        return
    raise ConfigurationError(
        f"context_window = {window:,} tokens leaves no room for a prompt: {reserve:,} of them "
        "are kept for the answer (max_completion_tokens, or "
        f"{CONTEXT_RESERVE_TOKENS:,} when it is unset), so nothing can be sent. Set "
        f"context_window to the model's window (%config KimiMagics.context_window = "
        f"{CONTEXT_WINDOW_TOKENS}, or None for the default), or to more than {reserve:,}; or "
        "lower max_completion_tokens."
    )


def refuse_if_too_long(trimmed: Trimmed, budget_tokens: int, window: int, carried: int = 0) -> None:
    """Even with all history left out the request would overflow: say so, send nothing.
    `carried`: the tokens of tool schemas and response_format, already out of the budget."""
    if trimmed.tokens <= budget_tokens:
        return
    schemas = (
        f", after the {carried:,} that the tool schemas and response format take" if carried else ""
    )
    raise ConfigurationError(
        f"This prompt is about {trimmed.tokens:,} tokens (estimated at ~4 characters a token), "
        f"more than the {max(budget_tokens, 0):,} that fit the {window:,}-token context window "
        f"with room kept for the answer{schemas}, so nothing was sent. Cut what it attaches: "
        "fewer or smaller {variables} (lower variable_tokens / context_tokens), fewer images, "
        "fewer tools, a shorter system prompt; or lower max_completion_tokens to keep less "
        "room for the answer."
    )
