"""Typed chat messages passed between the stages; only api/wire.py turns them into JSON.

A user turn holds text and images; an assistant turn holds text, the reasoning that came with
it and the tool calls it asked for; a tool turn holds one call's result. Images travel as data
URLs (Workers AI does not fetch http(s) image URLs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .types import ToolCall

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ImagePart:
    """An image as a `data:` URL."""

    url: str


@dataclass(frozen=True)
class Message:
    """One chat message. `images` only on user turns; `tool_calls` / `reasoning` on assistant
    turns; `tool_call_id` on tool turns."""

    role: Role
    text: str = ""
    images: tuple[ImagePart, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    reasoning: str = ""
    name: str | None = None  # a tool turn's function name (shown in history)

    @classmethod
    def system(cls, text: str) -> Message:
        return cls("system", text)

    @classmethod
    def user(cls, text: str, images: tuple[str, ...] = ()) -> Message:
        """A user turn: text, then images given as data URLs."""
        return cls("user", text, tuple(ImagePart(url) for url in images))

    @classmethod
    def assistant(
        cls, text: str, tool_calls: tuple[ToolCall, ...] = (), reasoning: str = ""
    ) -> Message:
        return cls("assistant", text, tool_calls=tool_calls, reasoning=reasoning)

    @classmethod
    def tool(cls, call_id: str, text: str, name: str | None = None) -> Message:
        return cls("tool", text, tool_call_id=call_id, name=name)
