"""Conversations as a JSON file (`%kimi save` / `%kimi load`): each exchange's messages in the
wire's own shapes (images as data URLs) and each answer's record, including how it ended."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.answer import Answer
from ..core.conversation import Conversation, Exchange
from ..core.errors import ConfigurationError
from ..core.file_checks import (
    Kind,
    Shape,
    as_choice,
    as_count,
    as_list,
    as_number,
    as_object,
    as_text,
    damaged,
    parse_json,
    read_text,
)
from ..core.messages import Message
from ..core.types import Usage
from .wire import as_message, message_json

FORMAT = "kimi_magic.conversations"
FORMAT_VERSION = 2
SAVE = Kind(
    "kimi_magic conversation file",
    "Nothing was loaded. Load another copy, or save the conversations again with "
    "%kimi save FILE; the path is relative to the notebook's folder.",
)
ROLES = frozenset({"system", "user", "assistant", "tool"})


def _answer_json(answer: Answer) -> dict[str, Any]:
    u = answer.usage
    return {
        "text": answer.text,
        "reasoning": answer.reasoning,
        "usage": {
            "prompt_tokens": u.prompt_tokens,
            "cached_tokens": u.cached_tokens,
            "completion_tokens": u.completion_tokens,
        },
        "model": answer.model,
        "finish_reason": answer.finish_reason,
        "seconds": answer.seconds,
        "latency": answer.latency,
        "ended": answer.ended,
        "error": answer.error,
    }


def _answer(value: Any, where: str) -> Answer:
    raw = as_object(value, where)
    usage = as_object(raw.get("usage") or {}, f"{where}.usage")
    ended = as_text(raw.get("ended"), f"{where}.ended") or "complete"
    latency = raw.get("latency")
    return Answer(
        text=as_text(raw.get("text"), f"{where}.text"),
        reasoning=as_text(raw.get("reasoning"), f"{where}.reasoning"),
        usage=Usage(
            *(as_count(usage.get(k), f"{where}.usage.{k}") for k in _USAGE_KEYS),
        ),
        model=as_text(raw.get("model"), f"{where}.model") or None,
        finish_reason=as_text(raw.get("finish_reason"), f"{where}.finish_reason") or None,
        seconds=float(as_number(raw.get("seconds"), f"{where}.seconds")),
        latency=None if latency is None else float(as_number(latency, f"{where}.latency")),
        interrupted=ended == "interrupted" or bool(raw.get("interrupted")),
        truncated=ended in ("truncated", "stream_error") or bool(raw.get("truncated")),
        error=as_text(raw.get("error"), f"{where}.error")
        or ("the call failed" if ended == "error" else None),
    )


_USAGE_KEYS = ("prompt_tokens", "cached_tokens", "completion_tokens")


def _message(value: Any, where: str) -> Message:
    """A saved message, checked: a known role, text or a list of parts, tool calls a list."""
    raw = as_object(value, where)
    as_choice(raw.get("role"), f"{where}.role", ROLES)
    content = raw.get("content")
    if not isinstance(content, str):
        for i, part in enumerate(as_list(content, f"{where}.content")):
            as_object(part, f"{where}.content[{i}]")
    for i, call in enumerate(as_list(raw.get("tool_calls"), f"{where}.tool_calls")):
        as_object(as_object(call, f"{where}.tool_calls[{i}]").get("function") or {}, where)
    for key in ("tool_call_id", "name", "reasoning", "reasoning_content"):
        as_text(raw.get(key), f"{where}.{key}")
    return as_message(raw)


def dump(conversations: Sequence[Conversation]) -> dict[str, Any]:
    """Conversations as JSON-able data."""
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "conversations": [
            {
                "name": c.name,
                "session_id": c.session_id,
                "exchanges": [
                    {
                        "user": message_json(e.user),
                        # a tool step's name is ours (history shows it), not the wire's
                        "steps": [
                            {**message_json(m), **({"name": m.name} if m.name else {})}
                            for m in e.steps
                        ],
                        "answer": _answer_json(e.answer),
                        **_marks_json(e),
                    }
                    for e in c.exchanges
                    if e.answer is not None  # one still streaming is saved once it ends
                ],
            }
            for c in conversations
        ],
    }


def _marks_json(exchange: Exchange) -> dict[str, Any]:
    """`%kimi forget` / `pin` / `edit` marks, written only when set (older files have none)."""
    marks: dict[str, Any] = {}
    if exchange.forgotten:
        marks["forgotten"] = True
    if exchange.pinned:
        marks["pinned"] = True
    if exchange.edited:
        marks["edited"] = list(exchange.edited)
    return marks


def _marks(item: Mapping[str, Any], exchange: Exchange, where: str) -> None:
    exchange.forgotten = item.get("forgotten") is True
    exchange.pinned = item.get("pinned") is True
    edited = as_list(item.get("edited"), f"{where}.edited")
    exchange.edited = [as_choice(e, f"{where}.edited", EDITED) for e in edited]


EDITED = frozenset({"question", "answer"})


def undump(data: Any, source: str = "the file") -> list[Conversation]:
    """Conversations from the data `dump` made (or version 1's); one paragraph if it is not
    ours or its contents are wrong."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigurationError(
            f"{source} is not a kimi_magic conversation file (it has no "
            f'"format": "{FORMAT}"). Save one with %kimi save FILE.'
        )
    try:
        listed = as_list(data.get("conversations"), "conversations")
        return [_conversation(raw, f"conversations[{i}]") for i, raw in enumerate(listed)]
    except Shape as error:
        raise damaged(source, SAVE, f"its contents are damaged: {error}") from None


def _conversation(value: Any, where: str) -> Conversation:
    raw = as_object(value, where)
    name = as_text(raw.get("name"), f"{where}.name") or "default"
    conversation = Conversation(name=name)
    session_id = as_text(raw.get("session_id"), f"{where}.session_id")
    if session_id:
        conversation.session_id = session_id  # keeps the prefix cache warm
    if "exchanges" in raw:
        for i, value in enumerate(as_list(raw["exchanges"], f"{where}.exchanges")):
            at = f"{where}.exchanges[{i}]"
            item = as_object(value, at)
            exchange = Exchange(_message(item.get("user"), f"{at}.user"))
            steps = as_list(item.get("steps"), f"{at}.steps")
            exchange.steps = [_message(m, f"{at}.steps[{n}]") for n, m in enumerate(steps)]
            exchange.answer = _answer(item.get("answer"), f"{at}.answer")
            _marks(item, exchange, at)
            conversation.exchanges.append(exchange)
        return conversation
    # Version 1: the messages as sent, and a usage record per answer.
    listed = as_list(raw.get("messages"), f"{where}.messages")
    messages = [_message(m, f"{where}.messages[{i}]") for i, m in enumerate(listed)]
    turns = iter(enumerate(as_list(raw.get("turns"), f"{where}.turns")))
    for message in messages:
        if message.role == "user":
            conversation.exchanges.append(Exchange(message))
        elif message.role == "assistant" and conversation.exchanges:
            number, turn = next(turns, (0, {}))
            record = dict(as_object(turn, f"{where}.turns[{number}]"))
            record["text"] = message.text
            conversation.exchanges[-1].answer = _answer(record, f"{where}.turns[{number}]")
    conversation.exchanges = [e for e in conversation.exchanges if e.answer is not None]
    return conversation


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
    if not path.exists():
        raise ConfigurationError(
            f"Could not read {path} (No such file or directory). Check the path; it is "
            "relative to the notebook's folder."
        )
    return undump(parse_json(read_text(path, SAVE), path, SAVE), str(path))
