"""A hand-written subset of the published input schema: the mistakes a client could make.

The emulator has no jsonschema dependency; tests check requests against the full schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._tools import tool_protocol_problem

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
USER_PART_TYPES = frozenset({"text", "image_url", "video_url", "input_audio", "file"})
# name: (minimum, maximum), from schema.input; null is always allowed.
NUMBER_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0, 2),
    "top_p": (0, 1),
    "frequency_penalty": (-2, 2),
    "presence_penalty": (-2, 2),
}
INTEGER_KEYS = ("max_tokens", "max_completion_tokens", "seed")
REASONING_EFFORTS = (None, "low", "medium", "high")


def input_problem(body: Mapping[str, Any]) -> str | None:
    """What is wrong with a single request body, or None when it looks valid."""
    if "messages" in body and "prompt" in body:
        return "send either 'messages' or 'prompt', not both"
    if "messages" in body:
        problem = _messages_problem(body["messages"]) or tool_protocol_problem(body["messages"])
    elif "prompt" in body:
        prompt = body["prompt"]
        ok = isinstance(prompt, str) and prompt != ""
        problem = None if ok else "'prompt' must be a non-empty string"
    else:
        problem = "required properties at '/' are 'messages' or 'prompt'"
    return problem or _parameters_problem(body)


def _messages_problem(messages: object) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array"
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or message.get("role") not in ROLES:
            return f"messages[{i}] needs a 'role', one of {sorted(ROLES)}"
        if "content" not in message:
            return f"messages[{i}] needs 'content'"
        content = message["content"]
        if content is None and message["role"] == "assistant":
            continue
        if isinstance(content, list):
            for j, part in enumerate(content):
                problem = _part_problem(part, message["role"] == "user")
                if problem:
                    return f"messages[{i}].content[{j}]: {problem}"
        elif not isinstance(content, str):
            return f"messages[{i}].content must be a string or an array of parts"
    return None


def _part_problem(part: object, user: bool) -> str | None:
    if not isinstance(part, Mapping):
        return "a content part must be an object"
    kind = part.get("type")
    if kind not in (USER_PART_TYPES if user else {"text", "refusal"}):
        return f"unsupported content part type {kind!r}"
    if kind == "text" and not isinstance(part.get("text"), str):
        return "a text part needs a string 'text'"
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else None
        if not isinstance(url, str) or not url.startswith("data:"):
            return "image_url.url must be a data: URL (http(s) image URLs are not supported)"
    return None


def _parameters_problem(body: Mapping[str, Any]) -> str | None:
    for name, (low, high) in NUMBER_RANGES.items():
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"'{name}' must be a number"
        if not low <= value <= high:
            return f"'{name}' must be between {low} and {high}, got {value}"
    for name in INTEGER_KEYS:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return f"'{name}' must be an integer"
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        return "'stream' must be a boolean"
    if body.get("reasoning_effort") not in REASONING_EFFORTS:
        return f"'reasoning_effort' must be one of {REASONING_EFFORTS}"
    return None
