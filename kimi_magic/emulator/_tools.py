"""Tool calling in the emulator: the protocol checks a real server makes, and replies that
depend on the tool results a request carries.

A scripted reply's `content`, and each scripted tool call's `arguments` string, may hold
placeholders filled from the request (so a test can check round 2 saw round 1's result):

    {{tool_result:N}}   the content of the N-th tool message after the last assistant turn
    {{tool_results}}    all of them, one per line
    {{images}}          how many image parts the messages after the last assistant turn carry

A scripted tool call with `"arguments_object": true` streams its arguments as a JSON object
in one piece (older Workers AI replies do that) instead of a string in pieces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{(tool_result:(\d+)|tool_results|images)\}\}")


def latest_round(messages: Sequence[Any]) -> list[Mapping[str, Any]]:
    """The messages after the last assistant turn (the results of the round it asked for)."""
    tail: list[Mapping[str, Any]] = []
    for message in reversed(messages):
        if not isinstance(message, Mapping) or message.get("role") == "assistant":
            break
        tail.append(message)
    return tail[::-1]


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return "".join(str(p.get("text", "")) for p in parts if isinstance(p, Mapping))


def _images(messages: Sequence[Mapping[str, Any]]) -> int:
    return sum(
        1
        for m in messages
        if isinstance(m.get("content"), list)
        for part in m["content"]
        if isinstance(part, Mapping) and part.get("type") == "image_url"
    )


def fill(text: str, body: Mapping[str, Any]) -> str:
    """`text` with its placeholders replaced from the request `body`."""
    if "{{" not in text:
        return text
    tail = latest_round(body.get("messages") or [])
    results = [_text(m.get("content")) for m in tail if m.get("role") == "tool"]

    def replace(match: re.Match[str]) -> str:
        if match.group(1) == "tool_results":
            return "\n".join(results)
        if match.group(1) == "images":
            return str(_images(tail))
        index = int(match.group(2))
        return results[index] if index < len(results) else f"(no tool result {index})"

    return _PLACEHOLDER.sub(replace, text)


def filled_reply(reply: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """A scripted reply with its placeholders filled from the request."""
    filled = dict(reply)
    if isinstance(filled.get("content"), str):
        filled["content"] = fill(filled["content"], body)
    calls = []
    for call in filled.get("tool_calls") or []:
        arguments = call.get("arguments")
        calls.append(
            {**call, "arguments": fill(arguments, body)} if isinstance(arguments, str) else call
        )
    if calls:
        filled["tool_calls"] = calls
    return filled


def tool_protocol_problem(messages: Sequence[Any]) -> str | None:
    """What breaks the tool-call protocol (as OpenAI-compatible servers check it), or None:
    each assistant tool call answered by a tool message before the next assistant or user
    turn, and no tool message without the call it answers."""
    open_ids: set[str] = set()
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            continue
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in open_ids:
                return (
                    f"messages[{i}] is a tool result for {call_id!r}, which no earlier "
                    "assistant turn asked for (or which was already answered)"
                )
            open_ids.discard(call_id)
        elif role in ("assistant", "user") and open_ids:
            return (
                f"messages[{i}] ({role}) comes before the tool results for "
                f"{sorted(open_ids)}: each tool call needs its tool message first"
            )
        if role == "assistant":
            for call in message.get("tool_calls") or []:
                if isinstance(call, Mapping):
                    open_ids.add(str(call.get("id")))
    if open_ids:
        return f"the request ends before the tool results for {sorted(open_ids)}"
    return None
