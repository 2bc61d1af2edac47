"""Token estimates before anything is sent, in one place: text, images, messages, and how full
the context window is (the gauge under each answer and in the panel).

Only the server counts tokens exactly; these estimates (about four characters a token) decide
what history fits, what a dry run or a map job will cost, and when to warn.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .constants import (
    CHARS_PER_TOKEN,
    CONTEXT_RESERVE_TOKENS,
    CONTEXT_WINDOW_TOKENS,
    IMAGE_PIXELS_PER_TOKEN,
    IMAGE_TOKENS_ESTIMATE,
)
from .messages import Message

MESSAGE_OVERHEAD_TOKENS = 4  # role markers and separators of the chat template
# The gauge warns from this share of the usable window on.
GAUGE_WARN_SHARE = 0.8


def text_tokens(text: str) -> int:
    """About one token per four characters, rounded up."""
    return -(-len(text) // CHARS_PER_TOKEN)


def image_tokens(width: int, height: int) -> int:
    """An image of known size, from its pixels (vision patches)."""
    return max(1, width * height // IMAGE_PIXELS_PER_TOKEN)


def message_tokens(message: Message) -> int:
    """Text, reasoning sent back, tool calls and a fixed estimate per image."""
    tokens = MESSAGE_OVERHEAD_TOKENS + text_tokens(message.text)
    tokens += text_tokens(message.reasoning)
    tokens += sum(text_tokens(c.name) + text_tokens(c.arguments) for c in message.tool_calls)
    return tokens + IMAGE_TOKENS_ESTIMATE * len(message.images)


def messages_tokens(messages: Iterable[Message]) -> int:
    return sum(message_tokens(m) for m in messages)


# What a request carries besides its messages that the model reads as prompt too.
CARRIED_KEYS = ("tools", "response_format")


def carried_tokens(params: Mapping[str, Any]) -> int:
    """The request's tool schemas and response_format: the server puts them in the prompt,
    so they take room in the context window like any message."""
    tokens = 0
    for key in CARRIED_KEYS:
        if params.get(key):
            tokens += text_tokens(json.dumps(params[key], separators=(",", ":"), default=str))
    return tokens


@dataclass(frozen=True)
class ContextGauge:
    """How full a conversation's context window is: `used` of `window`, `reserve` kept free
    for the answer."""

    used: int
    window: int = CONTEXT_WINDOW_TOKENS
    reserve: int = CONTEXT_RESERVE_TOKENS

    @property
    def usable(self) -> int:
        return max(self.window - self.reserve, 1)

    @property
    def share(self) -> float:
        """Share of the usable window taken (may pass 1.0: then history gets trimmed)."""
        return self.used / self.usable

    @property
    def warning(self) -> str:
        """A sentence when the conversation is close to overflowing, else empty."""
        if self.share < GAUGE_WARN_SHARE:
            return ""
        if self.share >= 1:
            return (
                "The conversation no longer fits the context window: the oldest turns are "
                "left out of each request. Start a new one with %kimi reset (or --new)."
            )
        return (
            f"The conversation fills {self.share:.0%} of the context window; soon the oldest "
            "turns will be left out. %kimi reset (or --new) starts a new one."
        )

    @property
    def text(self) -> str:
        """`context 12,345 / 245,760 tokens (5%)`"""
        return f"context {self.used:,} / {self.usable:,} tokens ({self.share:.0%})"
