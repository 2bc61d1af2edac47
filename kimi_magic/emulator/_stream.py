"""A reply as the SSE writes of a stream: the deltas (chunked as the reply says), then the
finish, usage and `[DONE]`; and the raw, malformed and error events that faults write."""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import _choices, _wire
from ._replies import DEFAULT_CHUNK_CHARS, Answer, Meter, split_text, with_extra_tokens


@dataclass(frozen=True)
class StreamPlan:
    """The SSE writes of one answer: the deltas, then the tail (finish, usage, `[DONE]`)."""

    events: list[bytes]
    tail: list[bytes]


def build_stream(
    answer: Answer,
    meter: Meter,
    reply: Mapping[str, Any],
    reasoning_field: str,
    body: Mapping[str, Any] | None = None,
) -> StreamPlan:
    """Every SSE write of `answer`, shaped by the reply's chunking and usage options."""
    le = str(reply.get("line_ending", "\n"))
    mode = str(reply.get("usage_mode", "final_chunk"))
    prefix = f": keep-alive{le}".encode() if reply.get("comments") else b""
    completion_id, created = _wire.new_completion_id(), int(time.time())

    def write(payload: dict[str, Any]) -> bytes:
        return prefix + _wire.sse_event(_wire.dumps(payload), le)

    events: list[bytes] = []
    generated = 0
    for delta, chars in _deltas(answer, reply, reasoning_field):
        generated += chars
        running = meter.at(generated) if mode == "every_chunk" else None
        logprobs = _choices.logprobs_for([delta["content"]], body) if delta.get("content") else None
        events.append(
            write(_wire.chunk(completion_id, created, delta, usage=running, logprobs=logprobs))
        )
    extra = _choices.alternatives(answer.content or "", reply, _choices.choice_count(body))
    size = int(reply.get("chunk_chars") or DEFAULT_CHUNK_CHARS)
    for index, text in enumerate(extra, start=1):
        for piece in split_text(text, size):
            logprobs = _choices.logprobs_for([piece], body)
            events.append(
                write(
                    _wire.chunk(
                        completion_id, created, {"content": piece}, index=index, logprobs=logprobs
                    )
                )
            )
        events.append(write(_wire.chunk(completion_id, created, {}, "stop", index=index)))

    final = with_extra_tokens(meter.final(answer), extra)
    finish_usage = None if mode == "trailing_response" else final
    tail = [write(_wire.chunk(completion_id, created, {}, answer.finish_reason, finish_usage))]
    if mode == "trailing_response":
        tail.append(write({"response": "", "usage": final}))
    tail.append(prefix + _wire.sse_event("[DONE]", le))
    return StreamPlan(events, tail)


def _deltas(
    answer: Answer, reply: Mapping[str, Any], reasoning_field: str
) -> list[tuple[dict[str, Any], int]]:
    """Each delta of the stream with the generated characters it carries."""
    size = int(reply.get("chunk_chars") or DEFAULT_CHUNK_CHARS)
    content = answer.content or ""
    pieces = _split_into(content, int(reply["chunks"])) if reply.get("chunks") else None
    deltas: list[tuple[dict[str, Any], int]] = []
    for piece in split_text(answer.reasoning, size):
        deltas.append((_wire.reasoning_fields(reasoning_field, piece), len(piece)))
    for piece in pieces if pieces is not None else split_text(content, size):
        deltas.append(({"content": piece}, len(piece)))
    for index, call in enumerate(answer.tool_calls):
        head: dict[str, Any] = {"index": index, "id": call.id, "type": "function"}
        head["function"] = {"name": call.name, "arguments": ""}
        if call.as_object:
            head["function"] = {"name": call.name, "arguments": json.loads(call.arguments or "{}")}
            deltas.append(({"tool_calls": [head]}, len(call.arguments)))
            continue
        deltas.append(({"tool_calls": [head]}, 0))
        for piece in split_text(call.arguments, size):
            part = {"index": index, "function": {"arguments": piece}}
            deltas.append(({"tool_calls": [part]}, len(piece)))
    if not deltas:
        deltas.append(({"content": ""}, 0))
    first, chars = deltas[0]
    deltas[0] = ({"role": "assistant", **first}, chars)
    return deltas


def _split_into(text: str, count: int) -> list[str]:
    """`text` in `count` nearly equal pieces (fewer when it is shorter)."""
    count = max(1, min(count, len(text)))
    bounds = [round(i * len(text) / count) for i in range(count + 1)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def raw_chunks(reply: Mapping[str, Any]) -> list[bytes]:
    """The exact network writes a raw reply scripts."""
    return [base64.b64decode(chunk) for chunk in reply["raw_chunks_b64"]]


def error_event(message: str, code: object, line_ending: str) -> bytes:
    """An in-stream error event, as OpenAI-compatible servers send one."""
    return _wire.sse_event(_wire.dumps({"error": {"message": message, "code": code}}), line_ending)


def malformed_event(line_ending: str) -> bytes:
    """An event whose data is not JSON."""
    return _wire.sse_event("{not json", line_ending)
