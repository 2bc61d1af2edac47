"""The only module that knows Workers AI's JSON shapes: request bodies out, events and errors in."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..core.errors import (
    CLOUDFLARE,
    GATEWAY,
    GATEWAY_CODES,
    OTHER_SERVER,
    APIStatusError,
    StreamError,
    advice_for,
    code_label,
    gateway_advice,
)
from ..core.messages import ImagePart, Message
from ..core.types import (
    Finish,
    LogprobsDelta,
    ReasoningDelta,
    ResponseStarted,
    StreamEvent,
    TextDelta,
    TokenLogprob,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageReport,
)

# Parameters that are ours, not the wire's; the rest of a settings mapping goes into the body.
_NOT_BODY = frozenset({"system", "thinking"})


def request_body(
    messages: Sequence[Message | Mapping[str, Any]],
    params: Mapping[str, Any],
    *,
    stream: bool,
    model: str | None = None,
) -> dict[str, Any]:
    """The JSON body for one chat request; `None` values are left out."""
    body: dict[str, Any] = {"messages": [message_json(as_message(m)) for m in messages]}
    if model:
        body["model"] = model
    for name, value in params.items():
        if value is not None and name not in _NOT_BODY:
            body[name] = value
    thinking = params.get("thinking")
    if thinking is not None:
        # Launch docs name it `thinking`, later docs `enable_thinking`: send both.
        kwargs = dict(body.get("chat_template_kwargs") or {})
        kwargs.update(thinking=bool(thinking), enable_thinking=bool(thinking))
        body["chat_template_kwargs"] = kwargs
    body["stream"] = stream
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def message_json(message: Message) -> dict[str, Any]:
    """A message as the wire has it (request bodies, save files and the dry run alike)."""
    raw: dict[str, Any] = {"role": message.role}
    if message.images:
        raw["content"] = [{"type": "text", "text": message.text}] + [
            {"type": "image_url", "image_url": {"url": image.url}} for image in message.images
        ]
    else:
        raw["content"] = message.text
    if message.tool_calls:
        raw["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    if message.reasoning:
        # Moonshot's API wants the reasoning of a tool-call turn back as reasoning_content;
        # vLLM-style servers read `reasoning` (docs/design.md section 4). Neither is in the schema.
        raw["reasoning_content"] = raw["reasoning"] = message.reasoning
    if message.tool_call_id is not None:
        raw["tool_call_id"] = message.tool_call_id
    return raw


def as_message(raw: Message | Mapping[str, Any]) -> Message:
    """A Message from its wire form (a dict a user passed, or a saved file's entry)."""
    if isinstance(raw, Message):
        return raw
    content = raw.get("content")
    texts: list[str] = []
    images: list[ImagePart] = []
    if isinstance(content, str):
        texts.append(content)
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, Mapping):
            continue
        if part.get("type") == "text":
            texts.append(str(part.get("text") or ""))
        elif part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url")
            if isinstance(url, str):
                images.append(ImagePart(url))
    calls = tuple(
        ToolCall(
            str(call.get("id") or ""),
            str((call.get("function") or {}).get("name") or ""),
            _arguments_of(call.get("function") or {}),
        )
        for call in raw.get("tool_calls") or ()
        if isinstance(call, Mapping)
    )
    reasoning = raw.get("reasoning_content") or raw.get("reasoning") or ""
    return Message(
        role=raw.get("role", "user"),
        text="\n\n".join(texts),
        images=tuple(images),
        tool_calls=calls,
        tool_call_id=raw.get("tool_call_id"),
        reasoning=reasoning if isinstance(reasoning, str) else "",
        name=raw.get("name"),
    )


def usage_from(raw: Mapping[str, Any] | None) -> Usage | None:
    """A `usage` object as Usage, or None when absent."""
    if not isinstance(raw, Mapping):
        return None
    details = raw.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") if isinstance(details, Mapping) else None
    return Usage(
        prompt_tokens=int(raw.get("prompt_tokens") or 0),
        cached_tokens=int(cached or 0),
        completion_tokens=int(raw.get("completion_tokens") or 0),
    )


def _reasoning_of(part: Mapping[str, Any]) -> str | None:
    # Cloudflare's changelog says `reasoning`; the live API was seen sending
    # `reasoning_content`. Read the first, fall back to the second (also when the first is
    # there but empty or null), never both.
    value = part.get("reasoning")
    if not value:
        value = part.get("reasoning_content")
    return value if isinstance(value, str) else None


def _arguments_of(function: Mapping[str, Any]) -> str:
    # A JSON string per the schema; older Workers AI replies give the object itself.
    arguments = function.get("arguments")
    if arguments is None:
        return ""
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def logprobs_from(raw: Any, choice: int) -> LogprobsDelta | None:
    """`choices[i].logprobs.content` (OpenAI's shape) as an event, or None when absent."""
    content = raw.get("content") if isinstance(raw, Mapping) else None
    if not isinstance(content, list) or not content:
        return None
    tokens = []
    for item in content:
        if not isinstance(item, Mapping):
            continue
        top = tuple(
            (str(alt.get("token", "")), float(alt.get("logprob") or 0.0))
            for alt in item.get("top_logprobs") or ()
            if isinstance(alt, Mapping)
        )
        tokens.append(
            TokenLogprob(str(item.get("token", "")), float(item.get("logprob") or 0.0), top)
        )
    return LogprobsDelta(tuple(tokens), choice)


def events_from_chunk(chunk: Mapping[str, Any], server: str = CLOUDFLARE) -> Iterator[StreamEvent]:
    """The events in one streamed `chat.completion.chunk` (or a Workers AI extra event);
    `server` (Endpoint.server) names whose error codes an error event carries."""
    if chunk.get("error"):
        raise StreamError(_in_stream_error_message(chunk["error"], server))
    if chunk.get("success") is False:
        raise StreamError(_in_stream_error_message((chunk.get("errors") or [{}])[0], server))
    for choice in chunk.get("choices") or ():
        index = int(choice.get("index") or 0)
        delta = choice.get("delta") or {}
        reasoning = _reasoning_of(delta)
        if reasoning:
            yield ReasoningDelta(reasoning, index)
        content = delta.get("content")
        if isinstance(content, str) and content:
            yield TextDelta(content, index)
        logprobs = logprobs_from(choice.get("logprobs"), index)
        if logprobs is not None:
            yield logprobs
        for piece in delta.get("tool_calls") or ():
            function = piece.get("function") or {}
            yield ToolCallDelta(
                index=int(piece.get("index") or 0),
                id=piece.get("id"),
                name=function.get("name"),
                arguments=_arguments_of(function),
                choice=index,
            )
        if choice.get("finish_reason"):
            yield Finish(choice["finish_reason"], index)
    # The older Workers AI stream shape, and the trailing {"response": "", "usage": ...} event;
    # beside choices, `response` would repeat their text.
    response = chunk.get("response")
    if isinstance(response, str) and response and not chunk.get("choices"):
        yield TextDelta(response)
    usage = usage_from(chunk.get("usage"))
    if usage is not None:
        yield UsageReport(usage)


def events_from_completion(
    body: Mapping[str, Any], server: str = CLOUDFLARE
) -> Iterator[StreamEvent]:
    """The same events from a whole (non-streaming) reply, envelope unwrapped."""
    completion = unwrap(body, server)
    yield ResponseStarted(completion.get("id"), completion.get("model"))
    for choice in completion.get("choices") or ():
        index = int(choice.get("index") or 0)
        message = choice.get("message") or {}
        reasoning = _reasoning_of(message)
        if reasoning:
            yield ReasoningDelta(reasoning, index)
        if isinstance(message.get("content"), str) and message["content"]:
            yield TextDelta(message["content"], index)
        logprobs = logprobs_from(choice.get("logprobs"), index)
        if logprobs is not None:
            yield logprobs
        for position, call in enumerate(message.get("tool_calls") or ()):
            function = call.get("function") or {}
            yield ToolCallDelta(
                position,
                call.get("id"),
                function.get("name"),
                _arguments_of(function),
                index,
            )
        yield Finish(choice.get("finish_reason"), index)
    if isinstance(completion.get("response"), str) and not completion.get("choices"):
        # The older Workers AI reply shape; beside choices it would repeat their text.
        yield TextDelta(completion["response"])
        yield Finish("stop")
    usage = usage_from(completion.get("usage"))
    if usage is not None:
        yield UsageReport(usage)


def unwrap(body: Mapping[str, Any], server: str = CLOUDFLARE) -> Mapping[str, Any]:
    """The chat.completion inside the native endpoint's `{"result": ..., "success": ...}`."""
    if body.get("success") is False or (body.get("error")):
        raise error_from_reply(200, body, server=server)
    if "result" in body and isinstance(body["result"], Mapping):
        return body["result"]
    return body


def parse_json(text: str) -> Any:
    """The JSON value of `text`, or None when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def _first_error(body: Any) -> tuple[int | None, str]:
    """Cloudflare's `errors[0]` or OpenAI's `error`, as (code, message)."""
    if not isinstance(body, Mapping):
        return None, ""
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        first = errors[0]
        return _as_int(first.get("code")), str(first.get("message") or "")
    error: Any = body.get("error")
    if _gateway_own(body):  # AI Gateway's own: `"error": [{"code": 2009, ...}]`
        if not (isinstance(error, list) and error and isinstance(error[0], Mapping)):
            # A bare `{"name": "AiGatewayError", "internalCode": 2041, "message": ...}`.
            return _as_int(body.get("internalCode")), str(body.get("message") or "")
        error = error[0]
    if isinstance(error, Mapping):
        return _as_int(error.get("code")), str(error.get("message") or "")
    if isinstance(error, str):
        return None, error
    return None, ""


def _gateway_own(body: Any) -> bool:
    """An error the AI Gateway itself sent: named `AiGatewayError` (bodies since 2026), or a
    list under `error` (singular), as in `{"success": false, "result": [], "messages": [],
    "error": [{"code": 2009, ...}]}`; Workers AI's errors, passed through a gateway, keep
    their `errors` list (sources in emulator/_gateway.py)."""
    if not isinstance(body, Mapping):
        return False
    if body.get("name") == "AiGatewayError":
        return True
    if "errors" in body:
        return False
    error = body.get("error")
    return isinstance(error, list) and bool(error) and isinstance(error[0], Mapping)


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _clean(message: str) -> str:
    message = message.strip()
    while message.startswith("AiError:"):  # Workers AI may nest it: "AiError: AiError: ..."
        message = message[len("AiError:") :].strip()
    return message


def error_from_reply(
    status: int, body: Any, retry_after: float | None = None, *, server: str = CLOUDFLARE
) -> APIStatusError:
    """One paragraph for an error reply: what happened, the server's words, what to do;
    `server` (Endpoint.server) names whose error codes these are."""
    code, server_message = _first_error(body)
    if code is None and isinstance(body, str):
        server_message = _one_line(body)
    server_message = _clean(server_message)
    label = f"HTTP {status}" + (f", {code_label(code, server)}" if code is not None else "")
    said = f' The server said: "{server_message}".' if server_message else ""
    advice = advice_for(status, code, server)
    if server == GATEWAY and (_gateway_own(body) or code in GATEWAY_CODES):
        advice = gateway_advice(status, code)
        label = f"HTTP {status}" + (f", AI Gateway error {code}" if code is not None else "")
        said = f' The gateway said: "{server_message}".' if server_message else ""
    message = f"{advice} ({label}.){said}"
    if server == OTHER_SERVER:  # `code` is Cloudflare's: another server's 3040 is no capacity
        code = None  # error to retry
    return APIStatusError(
        message, status=status, code=code, server_message=server_message, retry_after=retry_after
    )


_HTML = re.compile(r"^\s*(?:<!doctype\s+html|<html|<head|<body|<\?xml)", re.IGNORECASE)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_HEADING = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_HIDDEN = re.compile(r"<(style|script|head)[^>]*>.*?</\1>|<!--.*?-->", re.IGNORECASE | re.DOTALL)


def _one_line(body: str) -> str:
    """A plain-text error body as it is (cut), an HTML error page as its title: a proxy's
    502 page is a screenful of markup that says nothing a user can act on."""
    if not _HTML.match(body):
        return " ".join(body.split())[:300]
    found = _TITLE.search(body) or _HEADING.search(body)
    # No title or heading: the page's visible text, without its styles and scripts.
    markup = found.group(1) if found else _HIDDEN.sub(" ", body)
    title = " ".join(html.unescape(_TAG.sub(" ", markup)).split())
    return f"an HTML error page ({title[:120]})" if title else "an HTML error page"


def _in_stream_error_message(error: Any, server: str) -> str:
    if isinstance(error, Mapping):
        code, text = _as_int(error.get("code")), _clean(str(error.get("message") or ""))
    else:
        code, text = None, _clean(str(error))
    label = f" ({code_label(code, server)})" if code is not None else ""
    return (
        f'The server reported an error in the middle of the answer{label}: "{text}". '
        "What arrived before it is kept; run the cell again to get a whole answer."
    )
