"""Scripted replies: their checks, the `Reply` helpers, and turning one into wire bytes.

A reply is a JSON-able dict (so a separate process can script it over HTTP). Every key is
optional; with no reply queued the emulator answers with the default markdown reply.

    content, reasoning, tool_calls [{name, arguments (str or object), id?, arguments_object?}]
    ({{tool_result:N}} placeholders in content and arguments: see _tools.py)
    chunk_chars (default 4) or chunks (split the content into N)   rate (chunks/s, None: unpaced)
    finish_reason   usage (merged over the estimate)   usage_mode   line_ending   comments
    raw_chunks_b64 (+ status, content_type): exact network writes instead of generated events
    fault {type, after_chunks?, ...}:
      http_error {status?, code?, message?, retry_after?}   Cloudflare envelope, any request
      openai_error {status, message, error_type?, code?}    {"error": {...}}
      json_error_200 {code, message?}                       200 application/json, success false
      disconnect   drop the connection after N events (plain request: before any response)
      malformed    a `data: {not json` event after N events, then the rest of the stream
      stream_error a `data: {"error": ...}` event after N events, then a clean end
      no_done      a clean end after N events: no finish chunk, no [DONE]
      stall {seconds}  pause after N events; with no after_chunks, before the headers
    after_chunks counts SSE data events; null means "after the last delta" (before the finish
    chunk), except for stall.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import _choices, _wire
from ._default import DEFAULT_REASONING, default_answer
from ._tool_model import tool_reply
from ._tools import filled_reply
from ._usage import CHARS_PER_TOKEN, tokens_for_chars, usage

DEFAULT_CHUNK_CHARS = 4

REPLY_KEYS = frozenset(
    {
        "content",
        "alternatives",
        "reasoning",
        "tool_calls",
        "chunk_chars",
        "chunks",
        "rate",
        "finish_reason",
        "usage",
        "usage_mode",
        "line_ending",
        "comments",
        "raw_chunks_b64",
        "content_type",
        "status",
        "fault",
    }
)
FAULT_TYPES = frozenset(
    {
        "http_error",
        "openai_error",
        "json_error_200",
        "disconnect",
        "malformed",
        "stream_error",
        "no_done",
        "stall",
        # the AI Gateway's own refusals (_gateway.py), on a gateway URL only
        "gateway_auth",
        "gateway_not_found",
        "gateway_rate_limit",
    }
)
USAGE_MODES = ("final_chunk", "every_chunk", "trailing_response")
LINE_ENDINGS = ("\n", "\r\n", "\r")
REASONING_FIELDS = ("reasoning", "reasoning_content", "both")


def check_reply(reply: object) -> dict[str, Any]:
    """`reply` as a dict, or ValueError saying what is wrong with it."""
    if not isinstance(reply, Mapping):
        raise ValueError(f"A reply must be a JSON object, not {type(reply).__name__}.")
    unknown = set(reply) - REPLY_KEYS
    if unknown:
        raise ValueError(f"Unknown reply keys {sorted(unknown)}; known: {sorted(REPLY_KEYS)}.")
    if reply.get("usage_mode", "final_chunk") not in USAGE_MODES:
        raise ValueError(f"usage_mode must be one of {USAGE_MODES}, not {reply['usage_mode']!r}.")
    if reply.get("line_ending", "\n") not in LINE_ENDINGS:
        raise ValueError(f"line_ending must be one of {LINE_ENDINGS}.")
    fault = reply.get("fault")
    if fault is not None and (
        not isinstance(fault, Mapping) or fault.get("type") not in FAULT_TYPES
    ):
        raise ValueError(f"fault must be an object whose type is one of {sorted(FAULT_TYPES)}.")
    if fault is not None:
        for key in ("after_chunks", "seconds"):
            if not _count_or_none(fault.get(key), integer=key == "after_chunks"):
                raise ValueError(f"fault {key} must be a number >= 0 or null, not {fault[key]!r}.")
    for key in ("chunk_chars", "chunks"):
        value = reply.get(key)
        if not _count_or_none(value, integer=True) or value == 0:
            raise ValueError(f"{key} must be a positive integer, not {value!r}.")
    for call in reply.get("tool_calls") or []:
        if not isinstance(call, Mapping) or not call.get("name"):
            raise ValueError(f"Each tool call needs a name, got {call!r}.")
    try:
        for chunk in reply.get("raw_chunks_b64") or []:
            base64.b64decode(chunk, validate=True)
    except (TypeError, ValueError) as error:
        raise ValueError(f"raw_chunks_b64 must hold base64 strings: {error}") from None
    return dict(reply)


def _count_or_none(value: object, integer: bool) -> bool:
    """Whether `value` is None or a non-negative number (an int when `integer`)."""
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        return False
    return value >= 0


class Reply:
    """Builders for reply dicts: `emu.script(Reply.text("Hi"), Reply.http_error(429))`."""

    @staticmethod
    def text(content: str, reasoning: str | None = None, **options: Any) -> dict[str, Any]:
        """An answer with `content` (and `reasoning`); options are other reply keys."""
        reply: dict[str, Any] = {"content": content, **options}
        if reasoning is not None:
            reply["reasoning"] = reasoning
        return reply

    @staticmethod
    def tool_call(name: str, arguments: str | Mapping[str, Any], **options: Any) -> dict[str, Any]:
        """An answer that calls one tool."""
        return {"tool_calls": [{"name": name, "arguments": _arguments(arguments)}], **options}

    @staticmethod
    def http_error(
        status: int | None = None,
        code: int | None = None,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> dict[str, Any]:
        """An HTTP error with Cloudflare's envelope (429 / 3040 when nothing is given)."""
        fault: dict[str, Any] = {"type": "http_error", "status": status, "code": code}
        fault.update(message=message, retry_after=retry_after)
        return {"fault": {k: v for k, v in fault.items() if v is not None}}

    @staticmethod
    def openai_error(status: int = 400, message: str = "Invalid request.") -> dict[str, Any]:
        """An HTTP error with an OpenAI-shaped body."""
        return {"fault": {"type": "openai_error", "status": status, "message": message}}

    @staticmethod
    def json_error_200(code: int = 3040, message: str | None = None) -> dict[str, Any]:
        """HTTP 200 `application/json` carrying `success: false`, even to a stream request."""
        fault: dict[str, Any] = {"type": "json_error_200", "code": code}
        if message is not None:
            fault["message"] = message
        return {"fault": fault}

    @staticmethod
    def fault(kind: str, after_chunks: int | None = None, **options: Any) -> dict[str, Any]:
        """A stream fault (`disconnect`, `malformed`, `stream_error`, `no_done`, `stall`)."""
        fault: dict[str, Any] = {"type": kind, "after_chunks": after_chunks}
        reply_options = {k: v for k, v in options.items() if k in REPLY_KEYS}
        fault.update({k: v for k, v in options.items() if k not in REPLY_KEYS})
        return {"fault": fault, **reply_options}

    @staticmethod
    def raw(
        chunks: Iterable[bytes],
        content_type: str = "text/event-stream",
        status: int = 200,
        **options: Any,
    ) -> dict[str, Any]:
        """Exactly these bytes, one network write each."""
        encoded = [base64.b64encode(c).decode("ascii") for c in chunks]
        return {
            "raw_chunks_b64": encoded,
            "content_type": content_type,
            "status": status,
            **options,
        }


@dataclass(frozen=True)
class ToolCall:
    """One function call the emulated model makes."""

    id: str
    name: str
    arguments: str
    as_object: bool = False  # stream the arguments as one JSON object, not string pieces


@dataclass(frozen=True)
class Answer:
    """What the emulated model says to one request."""

    content: str | None
    reasoning: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str

    @property
    def completion_chars(self) -> int:
        """Characters the model generated, reasoning and tool arguments included."""
        args = sum(len(c.arguments) for c in self.tool_calls)
        return len(self.reasoning) + len(self.content or "") + args


def answer_for(reply: Mapping[str, Any] | None, body: Mapping[str, Any]) -> Answer:
    """The answer `reply` scripts, or the default answer to `body` when there is none.

    Scripted replies are sent as written; with none, a request that offers tools gets the
    calls (or the answer from their results) of a model that uses them (_tool_model.py); the
    default reply honours thinking off, `max_completion_tokens` / `max_tokens` and
    `response_format`.
    """
    if reply is None:
        reply = tool_reply(body)
        if reply is not None and not _thinking_enabled(body):
            reply.pop("reasoning", None)
    if reply is not None:
        reply = filled_reply(reply, body)
        calls = tuple(
            ToolCall(
                id=str(call.get("id") or f"functions.{call['name']}:{i}"),
                name=str(call["name"]),
                arguments=_arguments(call.get("arguments", "{}")),
                as_object=bool(call.get("arguments_object")),
            )
            for i, call in enumerate(reply.get("tool_calls") or [])
        )
        content = reply.get("content")
        finish = reply.get("finish_reason") or ("tool_calls" if calls else "stop")
        return Answer(
            content=None if content is None and calls else str(content or ""),
            reasoning=str(reply.get("reasoning") or ""),
            tool_calls=calls,
            finish_reason=str(finish),
        )
    reasoning = DEFAULT_REASONING if _thinking_enabled(body) else ""
    content = default_answer(body)
    finish = "stop"
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and limit * CHARS_PER_TOKEN < len(reasoning) + len(content):
        budget = limit * CHARS_PER_TOKEN
        reasoning, content = reasoning[:budget], content[: max(0, budget - len(reasoning))]
        finish = "length"
    return Answer(content=content, reasoning=reasoning, tool_calls=(), finish_reason=finish)


def _arguments(arguments: object) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _thinking_enabled(body: Mapping[str, Any]) -> bool:
    kwargs = body.get("chat_template_kwargs")
    if not isinstance(kwargs, Mapping):
        return True
    return kwargs.get("thinking", True) is not False and kwargs.get("enable_thinking") is not False


@dataclass(frozen=True)
class Meter:
    """Usage for one request: prompt side fixed, completion side counted as it streams."""

    prompt_tokens: int
    cached_tokens: int
    override: Mapping[str, Any] | None = None

    def at(self, completion_chars: int) -> dict[str, Any]:
        """Usage after `completion_chars` generated characters (override not applied)."""
        return usage(self.prompt_tokens, tokens_for_chars(completion_chars), self.cached_tokens)

    def final(self, answer: Answer) -> dict[str, Any]:
        """Usage of the whole answer, the scripted override merged on top."""
        completion = tokens_for_chars(answer.completion_chars)
        return usage(self.prompt_tokens, completion, self.cached_tokens, self.override)


def message(answer: Answer, reasoning_field: str) -> dict[str, Any]:
    """The assistant message of a non-streaming completion."""
    result: dict[str, Any] = {"role": "assistant", "content": answer.content}
    if answer.reasoning:
        result.update(_wire.reasoning_fields(reasoning_field, answer.reasoning))
    if answer.tool_calls:
        result["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in answer.tool_calls
        ]
    return result


def build_completion(
    answer: Answer,
    meter: Meter,
    reasoning_field: str,
    body: Mapping[str, Any] | None = None,
    reply: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The non-streaming `chat.completion` for `answer` (n choices, logprobs if asked for)."""
    n = _choices.choice_count(body)
    extra = _choices.alternatives(answer.content or "", reply or {}, n)
    completion = _wire.completion(
        _wire.new_completion_id(),
        message(answer, reasoning_field),
        answer.finish_reason,
        with_extra_tokens(meter.final(answer), extra),
    )
    size = int((reply or {}).get("chunk_chars") or DEFAULT_CHUNK_CHARS)
    first = completion["choices"][0]
    first["logprobs"] = _choices.logprobs_for(split_text(answer.content or "", size), body)
    for i, text in enumerate(extra, start=1):
        completion["choices"].append(
            {
                "index": i,
                "message": {"role": "assistant", "content": text},
                "logprobs": _choices.logprobs_for(split_text(text, size), body),
                "finish_reason": "stop",
            }
        )
    return completion


def with_extra_tokens(usage_: dict[str, Any], extra: list[str]) -> dict[str, Any]:
    """Usage counting the extra choices' tokens too, as the completion side of n > 1 does."""
    added = sum(tokens_for_chars(len(text)) for text in extra)
    if added:
        usage_ = {
            **usage_,
            "completion_tokens": usage_["completion_tokens"] + added,
            "total_tokens": usage_["total_tokens"] + added,
        }
    return usage_


def split_text(text: str, size: int) -> list[str]:
    """`text` in pieces of `size` characters (code points, so UTF-8 is never cut)."""
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]
