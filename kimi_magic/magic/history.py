"""Conversation history: `%kimi history`, `reset`, `save` / `load` (JSON, images included),
and trimming what is sent to the context window, newest turns first."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.constants import CHARS_PER_TOKEN, IMAGE_TOKENS_ESTIMATE
from ..core.conversation import Conversation, Message
from ..core.errors import ConfigurationError
from ..core.types import Answer, Usage
from .commands import command, show_markdown

if TYPE_CHECKING:
    from .magics import KimiMagics

FORMAT = "kimi_magic.conversations"
FORMAT_VERSION = 1


# -- trimming to the context window --------------------------------------------------------


def estimate_tokens(message: Message) -> int:
    """About one token per four characters of text; a fixed estimate per image."""
    content = message.get("content")
    if isinstance(content, str):
        return len(content) // CHARS_PER_TOKEN + 4
    tokens = 4
    for part in content or ():
        if isinstance(part, dict) and part.get("type") == "text":
            tokens += len(str(part.get("text", ""))) // CHARS_PER_TOKEN
        else:
            tokens += IMAGE_TOKENS_ESTIMATE
    return tokens


@dataclass(frozen=True)
class Trimmed:
    messages: list[Message]
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
    while head < len(messages) and messages[head].get("role") == "system":
        head += 1
    system, rest = messages[:head], messages[head:]
    turns: list[list[Message]] = []
    for message in rest:
        if message.get("role") == "user" or not turns:
            turns.append([])
        turns[-1].append(message)
    total = sum(estimate_tokens(m) for m in messages)
    dropped = dropped_tokens = 0
    while total > budget_tokens and len(turns) > 1:
        turn = turns.pop(0)
        size = sum(estimate_tokens(m) for m in turn)
        total -= size
        dropped += 1
        dropped_tokens += size
    kept = [m for turn in turns for m in turn]
    return Trimmed([*system, *kept], dropped, dropped_tokens)


# -- rendering ---------------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    texts, images = [], 0
    for part in content or ():
        if isinstance(part, dict) and part.get("type") == "text":
            texts.append(str(part.get("text", "")))
        else:
            images += 1
    suffix = f" *(+{images} image{'s' if images > 1 else ''})*" if images else ""
    return " ".join(texts) + suffix


def usage_line(answer: Answer) -> str:
    """`in 1,234 (cached 1,000) · out 56 · $0.0012` for one answer."""
    u = answer.usage
    cached = f" (cached {u.cached_tokens:,})" if u.cached_tokens else ""
    return f"in {u.prompt_tokens:,}{cached} · out {u.completion_tokens:,} · ${answer.cost:.4f}"


def history_markdown(conversation: Conversation) -> str:
    """The conversation as markdown, each answer followed by its usage."""
    lines = [f"**Conversation `{conversation.name}`**: {len(conversation.answers)} turns"]
    answered = 0
    for message in conversation.messages:
        role = message.get("role")
        text = _text_of(message.get("content")).strip()
        if role == "user":
            lines.append(f"---\n**You:** {text}")
        elif role == "assistant":
            lines.append(f"**Kimi:** {text}")
            if answered < len(conversation.answers):
                lines.append(f"<sub>{usage_line(conversation.answers[answered])}</sub>")
            answered += 1
        else:
            lines.append(f"*{role}:* {text}")
    if not conversation.messages:
        lines.append("*(empty)*")
    return "\n\n".join(lines) + "\n"


# -- save / load -------------------------------------------------------------------------------


def _turn(answer: Answer) -> dict[str, Any]:
    u = answer.usage
    return {
        "usage": {
            "prompt_tokens": u.prompt_tokens,
            "cached_tokens": u.cached_tokens,
            "completion_tokens": u.completion_tokens,
        },
        "model": answer.model,
        "finish_reason": answer.finish_reason,
        "reasoning": answer.reasoning,
        "seconds": answer.seconds,
        "latency": answer.latency,
        "interrupted": answer.interrupted,
        "truncated": answer.truncated,
    }


def _answer(turn: dict[str, Any], text: str) -> Answer:
    usage = turn.get("usage") or {}
    return Answer(
        text=text,
        reasoning=turn.get("reasoning") or "",
        usage=Usage(
            int(usage.get("prompt_tokens", 0)),
            int(usage.get("cached_tokens", 0)),
            int(usage.get("completion_tokens", 0)),
        ),
        model=turn.get("model"),
        finish_reason=turn.get("finish_reason"),
        seconds=float(turn.get("seconds") or 0.0),
        latency=turn.get("latency"),
        interrupted=bool(turn.get("interrupted")),
        truncated=bool(turn.get("truncated")),
    )


def dump(conversations: Sequence[Conversation]) -> dict[str, Any]:
    """Conversations as JSON-able data: messages as sent (image parts as data URLs) and usage."""
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "conversations": [
            {
                "name": c.name,
                "session_id": c.session_id,
                "messages": c.messages,
                "turns": [_turn(a) for a in c.answers],
            }
            for c in conversations
        ],
    }


def undump(data: Any, source: str = "the file") -> list[Conversation]:
    """Conversations from the data `dump` made; ConfigurationError if it is not ours."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigurationError(
            f"{source} is not a kimi_magic conversation file (it has no "
            f'"format": "{FORMAT}"). Save one with %kimi save FILE.'
        )
    loaded = []
    for raw in data.get("conversations") or ():
        messages = list(raw.get("messages") or ())
        replies = [m for m in messages if m.get("role") == "assistant"]
        answers = [
            _answer(turn, _text_of(reply.get("content")))
            for turn, reply in zip(raw.get("turns") or (), replies, strict=False)
        ]
        conversation = Conversation(
            name=str(raw.get("name") or "default"), messages=messages, answers=answers
        )
        if raw.get("session_id"):
            conversation.session_id = str(raw["session_id"])  # keeps the prefix cache warm
        loaded.append(conversation)
    return loaded


def save(path: Path, conversations: Sequence[Conversation]) -> None:
    """Write the conversations to `path` as JSON."""
    text = json.dumps(dump(conversations), ensure_ascii=False, indent=1)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(
            f"Could not write {path} ({error.strerror}). Check that its folder exists and is "
            "writable; the path is relative to the notebook's folder."
        ) from None


def load(path: Path) -> list[Conversation]:
    """Conversations from a file written by `save`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(
            f"Could not read {path} ({error.strerror}). Check the path; "
            "it is relative to the notebook's folder."
        ) from None
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigurationError(
            f"{path} is not JSON. Save conversations with %kimi save FILE, then load that file."
        ) from None
    return undump(data, str(path))


# -- the commands ------------------------------------------------------------------------------


def _words(rest: str) -> list[str]:
    try:
        return shlex.split(rest)
    except ValueError as error:
        raise ConfigurationError(f"Could not read '{rest}' ({error}).") from None


@command("history", "show a conversation with each turn's usage (`%kimi history NAME`)")
def _history(magics: KimiMagics, rest: str) -> None:
    show_markdown(history_markdown(magics.conversation(rest.strip() or None)))


@command("reset", "forget a conversation (`%kimi reset NAME`; `%kimi reset --all` for every one)")
def _reset(magics: KimiMagics, rest: str) -> None:
    name = rest.strip()
    if name == "--all":
        magics.conversations.clear()
        return
    magics.conversation(name or None).reset()


@command("save", "save conversations to JSON, images included (`%kimi save FILE [NAME]`)")
def _save(magics: KimiMagics, rest: str) -> None:
    words = _words(rest)
    if not words:
        raise ConfigurationError(
            "Name the file: %kimi save chats.json (and optionally the "
            "conversation: %kimi save chats.json NAME)."
        )
    names = words[1:] or sorted(magics.conversations)
    save(Path(words[0]), [magics.conversation(name) for name in names])


@command("load", "load conversations saved with %kimi save (`%kimi load FILE`)")
def _load(magics: KimiMagics, rest: str) -> None:
    words = _words(rest)
    if not words:
        raise ConfigurationError("Name the file: %kimi load chats.json.")
    loaded = load(Path(words[0]))
    for conversation in loaded:
        magics.conversations[conversation.name] = conversation
    names = ", ".join(f"`{c.name}` ({len(c.answers)} turns)" for c in loaded) or "none"
    show_markdown(f"Loaded conversations from `{words[0]}`: {names}.")
