"""The emulator's streams, usage and prefix cache, and how its default reply follows the request."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from emulator_http import (
    AUTH,
    HELLO,
    chunks,
    deltas,
    joined,
    native_url,
    stream,
    stream_body,
)

from kimi_magic.core.constants import MODEL_ID
from kimi_magic.emulator import Emulator, Reply

# -- streaming --------------------------------------------------------------------------------


def test_stream_is_chunked_sse_reasoning_then_content_then_finish(
    emulator: Emulator, http: httpx.Client
) -> None:
    emulator.script(Reply.text("The answer is 4.", reasoning="2 and 2 make 4."))
    r, payloads = stream(http, emulator)
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.headers["cf-ray"]
    assert payloads[-1] == "[DONE]"
    events = chunks(payloads)
    assert all(e["object"] == "chat.completion.chunk" and e["model"] == MODEL_ID for e in events)
    assert len({e["id"] for e in events}) == 1
    kinds = ["reasoning" if "reasoning" in d else "content" for d in deltas(payloads)[:-1]]
    assert kinds == sorted(kinds, key=["reasoning", "content"].index)
    assert deltas(payloads)[0]["role"] == "assistant"
    assert joined(payloads, "reasoning") == "2 and 2 make 4."
    assert joined(payloads, "content") == "The answer is 4."
    last = events[-1]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["usage"]["completion_tokens"] > 0
    assert all("usage" not in e for e in events[:-1])
    assert all(e["choices"][0]["finish_reason"] is None for e in events[:-1])


def test_streamed_and_plain_answers_match(emulator: Emulator, http: httpx.Client) -> None:
    _, payloads = stream(http, emulator)
    plain = http.post(native_url(emulator), headers=AUTH, json=HELLO).json()["result"]
    message = plain["choices"][0]["message"]
    assert joined(payloads, "content") == message["content"]
    assert joined(payloads, "reasoning") == message["reasoning"]
    assert chunks(payloads)[-1]["usage"]["completion_tokens"] == plain["usage"]["completion_tokens"]


def test_utf8_content_survives_streaming(emulator: Emulator, http: httpx.Client) -> None:
    text = "Grüße, 世界 🌍 — ∑ xᵢ"
    emulator.script(Reply.text(text, chunk_chars=1))
    _, payloads = stream(http, emulator)
    assert joined(payloads, "content") == text


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ({"content": "abcdefghij", "chunk_chars": 3}, ["abc", "def", "ghi", "j"]),
        ({"content": "abcdefghij", "chunks": 2}, ["abcde", "fghij"]),
        ({"content": ""}, [""]),
    ],
)
def test_chunking(
    emulator: Emulator, http: httpx.Client, reply: dict[str, Any], expected: list[str]
) -> None:
    emulator.script(reply)
    _, payloads = stream(http, emulator)
    assert [d["content"] for d in deltas(payloads) if "content" in d] == expected


@pytest.mark.parametrize(
    ("field", "keys"),
    [
        ("reasoning", {"reasoning"}),
        ("reasoning_content", {"reasoning_content"}),
        ("both", {"reasoning", "reasoning_content"}),
    ],
)
def test_reasoning_field_variants(
    emulator: Emulator, http: httpx.Client, field: str, keys: set[str]
) -> None:
    emulator.configure(reasoning_field=field)
    emulator.script(Reply.text("A", reasoning="think"), Reply.text("A", reasoning="think"))
    _, payloads = stream(http, emulator)
    first = deltas(payloads)[0]
    assert set(first) - {"role"} == keys
    for key in keys:
        assert joined(payloads, key) == "think"
    message = http.post(native_url(emulator), headers=AUTH, json=HELLO).json()["result"]
    assert {"reasoning", "reasoning_content"} & set(message["choices"][0]["message"]) == keys


def test_tool_calls_stream_keyed_by_index(emulator: Emulator, http: httpx.Client) -> None:
    args = '{"city": "Paris", "unit": "celsius"}'
    emulator.script(
        {
            "tool_calls": [
                {"name": "get_weather", "arguments": args},
                {"name": "get_time", "arguments": {"tz": "CET"}},
            ],
            "chunk_chars": 5,
        }
    )
    _, payloads = stream(http, emulator)
    pieces = [d["tool_calls"][0] for d in deltas(payloads) if "tool_calls" in d]
    heads = [p for p in pieces if "id" in p]
    assert [(h["index"], h["id"], h["type"], h["function"]["name"]) for h in heads] == [
        (0, "functions.get_weather:0", "function", "get_weather"),
        (1, "functions.get_time:1", "function", "get_time"),
    ]
    rebuilt = ["", ""]
    for piece in pieces:
        rebuilt[piece["index"]] += piece["function"].get("arguments", "")
    assert rebuilt == [args, '{"tz": "CET"}']
    assert sum(1 for p in pieces if p["index"] == 0) > 2, "arguments arrive in pieces"
    assert chunks(payloads)[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_calls_in_a_plain_completion(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.tool_call("get_weather", {"city": "Paris"}))
    result = http.post(native_url(emulator), headers=AUTH, json=HELLO).json()["result"]
    choice = result["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "functions.get_weather:0",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
    ]


def test_usage_mode_every_chunk(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.text("x" * 40, usage_mode="every_chunk"))
    _, payloads = stream(http, emulator)
    events = chunks(payloads)
    assert all("usage" in e for e in events)
    counts = [e["usage"]["completion_tokens"] for e in events]
    assert counts == sorted(counts) and counts[-1] == 10


def test_usage_mode_trailing_response(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.text("x" * 40, usage_mode="trailing_response"))
    _, payloads = stream(http, emulator)
    assert payloads[-1] == "[DONE]"
    trailing = json.loads(payloads[-2])
    assert trailing["response"] == ""
    assert trailing["usage"]["completion_tokens"] == 10
    finish = json.loads(payloads[-3])
    assert finish["choices"][0]["finish_reason"] == "stop" and "usage" not in finish


def test_usage_override_is_merged(emulator: Emulator, http: httpx.Client) -> None:
    override = {"prompt_tokens": 1000, "prompt_tokens_details": {"cached_tokens": 512}}
    emulator.script(Reply.text("abcd", usage=override))
    _, payloads = stream(http, emulator)
    assert chunks(payloads)[-1]["usage"] == {
        "prompt_tokens": 1000,
        "completion_tokens": 1,
        "total_tokens": 1001,
        "prompt_tokens_details": {"cached_tokens": 512},
    }


@pytest.mark.parametrize("line_ending", ["\n", "\r\n", "\r"], ids=repr)
def test_line_endings(emulator: Emulator, http: httpx.Client, line_ending: str) -> None:
    emulator.script(Reply.text("Hi there", line_ending=line_ending, comments=True))
    with http.stream("POST", native_url(emulator), headers=AUTH, json=stream_body()) as r:
        raw = r.read().decode()
    separator = line_ending * 2
    assert raw.endswith("data: [DONE]" + separator)
    others = {"\n", "\r\n", "\r"} - {line_ending}
    if line_ending != "\r\n":
        assert not any(o in raw for o in others)
    lines = [line for line in raw.split(line_ending) if line]
    assert all(line.startswith(("data: ", ": keep-alive")) for line in lines)
    assert sum(line == ": keep-alive" for line in lines) == sum(
        line.startswith("data: ") for line in lines
    )


def test_rate_paces_the_stream(emulator: Emulator, http: httpx.Client) -> None:
    # Lower bounds only: pacing makes a stream take at least so long, and a loaded machine can
    # only make it longer. The reply's own rate is the slower one, so it shows as a lower bound.
    emulator.configure(rate=50)
    emulator.script(Reply.text("abcdefghij", chunks=10), Reply.text("ab", chunks=2, rate=4))
    started = time.monotonic()
    stream(http, emulator)  # 12 writes, 11 gaps of 20 ms
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    stream(http, emulator)  # 4 writes, 3 gaps of 250 ms (at the configured rate: 60 ms)
    assert time.monotonic() - started >= 0.7


# -- usage and the simulated prefix cache -----------------------------------------------------


def conversation(turns: int) -> dict[str, Any]:
    system = {"role": "system", "content": "You are a careful data analyst. " * 20}
    messages = [system]
    for i in range(turns):
        messages.append({"role": "user", "content": f"Question {i}: " + "tell me more. " * 10})
        messages.append({"role": "assistant", "content": f"Answer {i}: " + "here it is. " * 10})
    return {"messages": messages}


def usage_of(http: httpx.Client, emu: Emulator, body: dict[str, Any], **headers: str) -> Any:
    r = http.post(native_url(emu), headers={**AUTH, **headers}, json=body)
    return r.json()["result"]["usage"]


def test_prompt_tokens_estimate_chars_over_four(emulator: Emulator, http: httpx.Client) -> None:
    body = conversation(1)
    usage = usage_of(http, emulator, body)
    assert usage["prompt_tokens"] == pytest.approx(len(json.dumps(body["messages"])) / 4, abs=1)


def test_prefix_cache_grows_with_session_affinity(emulator: Emulator, http: httpx.Client) -> None:
    pinned = {"x-session-affinity": "conversation-1"}
    first = usage_of(http, emulator, conversation(1), **pinned)
    second = usage_of(http, emulator, conversation(2), **pinned)
    third = usage_of(http, emulator, conversation(3), **pinned)
    cached = [u["prompt_tokens_details"]["cached_tokens"] for u in (first, second, third)]
    assert cached[0] == 0
    assert 0 < cached[1] < cached[2] < third["prompt_tokens"]
    assert all(c % 16 == 0 for c in cached)
    other = usage_of(http, emulator, conversation(4), **{"x-session-affinity": "conversation-2"})
    assert other["prompt_tokens_details"]["cached_tokens"] == 0


def test_prefix_cache_hits_less_without_affinity(emulator: Emulator, http: httpx.Client) -> None:
    pinned = {"x-session-affinity": "s"}
    usage_of(http, emulator, conversation(2), **pinned)
    with_affinity = usage_of(http, emulator, conversation(3), **pinned)
    usage_of(http, emulator, conversation(2))
    without = usage_of(http, emulator, conversation(3))
    hit = with_affinity["prompt_tokens_details"]["cached_tokens"]
    assert 0 < without["prompt_tokens_details"]["cached_tokens"] < hit


# -- the default reply follows the request ----------------------------------------------------


def test_default_reply_honours_thinking_off_and_token_limits(
    emulator: Emulator, http: httpx.Client
) -> None:
    off = {"thinking": False, "enable_thinking": False}
    result = http.post(
        native_url(emulator), headers=AUTH, json={**HELLO, "chat_template_kwargs": off}
    ).json()["result"]
    assert "reasoning" not in result["choices"][0]["message"]
    result = http.post(
        native_url(emulator), headers=AUTH, json={**HELLO, "max_completion_tokens": 10}
    ).json()["result"]
    assert result["choices"][0]["finish_reason"] == "length"
    assert result["usage"]["completion_tokens"] == 10


def test_default_reply_answers_json_schema_requests(emulator: Emulator, http: httpx.Client) -> None:
    schema = {
        "name": "answer",
        "type": "object",
        "properties": {"title": {"type": "string"}, "score": {"type": "integer"}},
    }
    body = {**HELLO, "response_format": {"type": "json_schema", "json_schema": schema}}
    result = http.post(native_url(emulator), headers=AUTH, json=body).json()["result"]
    answer = json.loads(result["choices"][0]["message"]["content"])
    assert set(answer) == {"title", "score"} and isinstance(answer["score"], int)
