"""`%kimi history`, `reset`, `save`, `load`, `export`, and the curated history (`forget`,
`pin`, `edit`): conversations shown, forgotten, written, read, and kept on topic.

Turns are numbered from 1 as `%kimi history` shows them. A forgotten turn stays in history,
marked, but is no longer sent; a pinned one is kept when the context window trims old turns;
an edited one is sent with its new text and marked as edited (in history, save and export).

History shows how each answer ended (interrupted, truncated, failed), so a partial answer is
never mistaken for a whole one; a terminal gets the same text without markup.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from ..api.save_file import load, save
from ..core.answer import Answer
from ..core.conversation import Conversation, Exchange
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
    for number, exchange in enumerate(conversation.exchanges, 1):
        lines.append(f"---\n{bold}{number}. You:{bold}{_marks(exchange)} {_text_of(exchange.user)}")
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


def _marks(exchange: Exchange) -> str:
    marks = [
        *(["pinned"] if exchange.pinned else []),
        *(["forgotten: not sent"] if exchange.forgotten else []),
        *(f"{part} edited" for part in exchange.edited),
    ]
    return f" *({', '.join(marks)})*" if marks else ""


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


def _chat(words: list[str]) -> tuple[str | None, list[str]]:
    """`--chat NAME` taken out of the words."""
    if "--chat" in words:
        at = words.index("--chat")
        if at + 1 >= len(words):
            raise ConfigurationError("Name the conversation after --chat: --chat NAME.")
        return words[at + 1], words[:at] + words[at + 2 :]
    return None, words


def _turns(conversation: Conversation, spec: str, usage: str) -> list[Exchange]:
    """The exchanges numbered `N` or `N-M` (from 1, as `%kimi history` shows them)."""
    count = len(conversation.exchanges)
    first, _, last = spec.partition("-")
    try:
        start, end = int(first), int(last or first)
    except ValueError:
        start = end = 0
    if not 1 <= start <= end <= count:
        raise ConfigurationError(
            f"'{spec}' is not a turn of the conversation `{conversation.name}`, which has "
            f"{count} (numbered from 1, as %kimi history shows them). Use {usage}."
        )
    return conversation.exchanges[start - 1 : end]


def _mark_command(host: Any, rest: str, what: str) -> None:
    usage = f"%kimi {what} N (or N-M; --undo to take it back; --chat NAME)"
    words = _words(rest)
    undo = "--undo" in words
    chat, words = _chat([w for w in words if w != "--undo"])
    if len(words) != 1:
        raise ConfigurationError(f"Say which turns: {usage}.")
    conversation = host.session.conversation(chat)
    turns = _turns(conversation, words[0], usage)
    for exchange in turns:
        setattr(exchange, "forgotten" if what == "forget" else "pinned", not undo)
    done = {
        ("forget", False): "forgotten: they stay in %kimi history but are not sent any more",
        ("forget", True): "remembered again: they are sent with the next question",
        ("pin", False): "pinned: trimming to the context window keeps them",
        ("pin", True): "unpinned: trimming may leave them out again",
    }[what, undo]
    show_markdown(f"Turn(s) {words[0]} of `{conversation.name}` {done}.")


def forget_command(host: Any, rest: str) -> None:
    _mark_command(host, rest, "forget")


def pin_command(host: Any, rest: str) -> None:
    _mark_command(host, rest, "pin")


def edit_command(host: Any, rest: str) -> None:
    usage = "%kimi edit N NEW TEXT (--question to replace the question; --chat NAME)"
    words = rest.split(None, 1)
    chat = None
    question = False
    while words and words[0].startswith("--"):
        if words[0] == "--question":
            question = True
            words = words[1].split(None, 1) if len(words) > 1 else []
        elif words[0] == "--chat" and len(words) > 1:
            chat, _, remainder = words[1].partition(" ")
            words = remainder.split(None, 1)
        else:
            raise ConfigurationError(f"Unknown flag {words[0]}: {usage}.")
    if len(words) != 2 or not words[1].strip():
        raise ConfigurationError(f"Say which turn and its new text: {usage}.")
    conversation = host.session.conversation(chat)
    if "-" in words[0]:
        raise ConfigurationError(f"Edit one turn at a time: {usage}.")
    exchange = _turns(conversation, words[0], usage)[0]
    if exchange.answer is None and not question:
        raise ConfigurationError(
            f"Turn {words[0]} is still being answered: wait for it (%kimi wait), then edit."
        )
    exchange.edit(words[1].strip(), question=question)
    part = "question" if question else "answer"
    show_markdown(
        f"Turn {words[0]}'s {part} in `{conversation.name}` replaced, marked as edited: the "
        "next question sends the new text."
    )


def export_command(host: Any, rest: str) -> None:
    words = _words(rest)
    chat, words = _chat(words)
    if len(words) != 1 or Path(words[0]).suffix.lower() not in (".md", ".ipynb"):
        raise ConfigurationError(
            "Name a .md or .ipynb file: %kimi export chat.md (or chat.ipynb; --chat NAME for "
            "another conversation)."
        )
    path = Path(words[0])
    session = host.session
    conversation = session.conversation(chat)
    redactor = session.redactor(session.settings())
    if path.suffix.lower() == ".md":
        images = path.with_name(f"{path.stem}_files")
        text = conversation.to_markdown(redactor, images=images)
    else:
        text = json.dumps(conversation.to_notebook(redactor), ensure_ascii=False, indent=1)
    try:
        path.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(
            f"Could not write {path} ({error.strerror}). Check that its folder exists and is "
            "writable; the path is relative to the notebook's folder."
        ) from None
    show_markdown(
        f"Exported `{conversation.name}` ({len(conversation.exchanges)} turns) to `{path}`."
    )
