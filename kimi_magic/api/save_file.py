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
from ..core.types import Usage
from .wire import as_message, message_json

FORMAT = "kimi_magic.conversations"
FORMAT_VERSION = 2


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


def _number(raw: Mapping[str, Any], key: str, kind: type = int) -> Any:
    value = raw.get(key)
    if value is None:
        return kind(0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key} is {value!r}, not a number")
    return kind(value)


def _answer(raw: Mapping[str, Any]) -> Answer:
    usage = raw.get("usage") or {}
    ended = raw.get("ended") or "complete"
    latency = raw.get("latency")
    return Answer(
        text=str(raw.get("text") or ""),
        reasoning=str(raw.get("reasoning") or ""),
        usage=Usage(
            _number(usage, "prompt_tokens"),
            _number(usage, "cached_tokens"),
            _number(usage, "completion_tokens"),
        ),
        model=raw.get("model"),
        finish_reason=raw.get("finish_reason"),
        seconds=_number(raw, "seconds", float),
        latency=None if latency is None else _number(raw, "latency", float),
        interrupted=ended == "interrupted" or bool(raw.get("interrupted")),
        truncated=ended in ("truncated", "stream_error") or bool(raw.get("truncated")),
        error=raw.get("error") or ("the call failed" if ended == "error" else None),
    )


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
                    }
                    for e in c.exchanges
                    if e.answer is not None  # one still streaming is saved once it ends
                ],
            }
            for c in conversations
        ],
    }


def undump(data: Any, source: str = "the file") -> list[Conversation]:
    """Conversations from the data `dump` made (or version 1's); one paragraph if it is not
    ours or its contents are wrong."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigurationError(
            f"{source} is not a kimi_magic conversation file (it has no "
            f'"format": "{FORMAT}"). Save one with %kimi save FILE.'
        )
    try:
        return [_conversation(raw) for raw in data.get("conversations") or ()]
    except (ValueError, TypeError, AttributeError, KeyError) as error:
        raise ConfigurationError(
            f"{source} is a kimi_magic conversation file, but its contents are damaged "
            f"({error}); nothing was loaded. Load another copy, or save the conversations again."
        ) from None


def _conversation(raw: Mapping[str, Any]) -> Conversation:
    conversation = Conversation(name=str(raw.get("name") or "default"))
    if raw.get("session_id"):
        conversation.session_id = str(raw["session_id"])  # keeps the prefix cache warm
    if "exchanges" in raw:
        for item in raw["exchanges"]:
            exchange = Exchange(as_message(item["user"]))
            exchange.steps = [as_message(m) for m in item.get("steps") or ()]
            exchange.answer = _answer(item["answer"])
            conversation.exchanges.append(exchange)
        return conversation
    # Version 1: the messages as sent, and a usage record per answer.
    messages = [as_message(m) for m in raw.get("messages") or ()]
    turns = iter(raw.get("turns") or ())
    for message in messages:
        if message.role == "user":
            conversation.exchanges.append(Exchange(message))
        elif message.role == "assistant" and conversation.exchanges:
            record = dict(next(turns, {}))
            record["text"] = message.text
            conversation.exchanges[-1].answer = _answer(record)
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
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        why = error.strerror if isinstance(error, OSError) else "it is not UTF-8 text"
        raise ConfigurationError(
            f"Could not read {path} ({why}). Check the path; it is relative to the notebook's "
            "folder."
        ) from None
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigurationError(
            f"{path} is not JSON. Save conversations with %kimi save FILE, then load that file."
        ) from None
    return undump(data, str(path))
