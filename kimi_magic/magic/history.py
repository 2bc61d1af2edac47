"""`%kimi history`, `reset`, `save`, `load`: conversations shown, forgotten, written, read.

History shows how each answer ended (interrupted, truncated, failed), so a partial answer is
never mistaken for a whole one; a terminal gets the same text without markup.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from ..api.save_file import load, save
from ..core.answer import Answer
from ..core.conversation import Conversation
from ..core.errors import ConfigurationError
from ..core.messages import Message
from ..render.frontend import show_markdown


def usage_line(answer: Answer) -> str:
    """`in 1,234 (cached 1,000) · out 56 · $0.0012` for one answer, and how it ended."""
    u = answer.usage
    cached = f" (cached {u.cached_tokens:,})" if u.cached_tokens else ""
    line = f"in {u.prompt_tokens:,}{cached} · out {u.completion_tokens:,} · ${answer.cost:.4f}"
    return f"{line} · {answer.ended.history}" if answer.ended.history else line


def _text_of(message: Message) -> str:
    images = len(message.images)
    suffix = f" *(+{images} image{'s' if images > 1 else ''})*" if images else ""
    return message.text.strip() + suffix


def history_text(conversation: Conversation, markup: bool = True) -> str:
    """The conversation, each answer followed by its usage and how it ended."""
    bold, small = ("**", "<sub>{}</sub>") if markup else ("", "({})")
    lines = [f"{bold}Conversation `{conversation.name}`{bold}: {len(conversation.answers)} turns"]
    for exchange in conversation.exchanges:
        lines.append(f"---\n{bold}You:{bold} {_text_of(exchange.user)}")
        for step in exchange.steps:
            label = f"tool {step.name or ''}".strip() if step.role == "tool" else step.role
            called = ", ".join(f"{c.name}({c.arguments})" for c in step.tool_calls)
            text = " ".join(p for p in (step.text.strip(), called and f"calls {called}") if p)
            lines.append(f"*{label}:* {text}")
        if exchange.answer is None:
            lines.append("*(still answering in the background)*")
            continue
        lines.append(f"{bold}Kimi:{bold} {exchange.answer.text.strip()}")
        if exchange.answer.tool_calls:  # the turn stopped before these ran (a cap, an interrupt)
            names = ", ".join(call.name for call in exchange.answer.tool_calls)
            lines.append(f"*(asked for {names}; not run: the turn stopped first)*")
        lines.append(small.format(usage_line(exchange.answer)))
    if not conversation.exchanges:
        lines.append("*(empty)*")
    return "\n\n".join(lines) + "\n"


def _words(rest: str) -> list[str]:
    try:
        return shlex.split(rest)
    except ValueError as error:
        raise ConfigurationError(f"Could not read '{rest}' ({error}).") from None


def history_command(host: Any, rest: str) -> None:
    conversation = host.session.conversation(rest.strip() or None)
    show_markdown(history_text(conversation), plain=history_text(conversation, markup=False))


def reset_command(host: Any, rest: str) -> None:
    name = rest.strip()
    if name == "--all":
        count = len(host.session.conversations)
        host.session.conversations.clear()
        show_markdown(f"Forgot every conversation ({count}): the next question starts a new one.")
        return
    conversation = host.session.conversation(name or None)
    turns = len(conversation.answers)
    conversation.reset()
    show_markdown(
        f"Forgot the conversation `{conversation.name}` ({turns} turns): the next question "
        "in it starts fresh."
    )


def save_command(host: Any, rest: str) -> None:
    words = _words(rest)
    if not words:
        raise ConfigurationError(
            "Name the file: %kimi save chats.json (and optionally the "
            "conversation: %kimi save chats.json NAME)."
        )
    session = host.session
    names = words[1:] or sorted(session.conversations)
    save(Path(words[0]), [session.conversation(name) for name in names])
    listed = ", ".join(f"`{name}`" for name in names) or "none"
    show_markdown(
        f"Saved {len(names)} conversation(s) to `{words[0]}`: {listed}. "
        f"`%kimi load {words[0]}` brings them back."
    )


def load_command(host: Any, rest: str) -> None:
    words = _words(rest)
    if not words:
        raise ConfigurationError("Name the file: %kimi load chats.json.")
    loaded = load(Path(words[0]))
    for conversation in loaded:
        host.session.conversations[conversation.name] = conversation
    names = ", ".join(f"`{c.name}` ({len(c.answers)} turns)" for c in loaded) or "none"
    show_markdown(f"Loaded conversations from `{words[0]}`: {names}.")
