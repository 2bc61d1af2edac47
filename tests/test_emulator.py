"""The Workers AI emulator, driven over loopback with plain httpx: what a client receives."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from _canary import CANARY

from kimi_magic.core.constants import MODEL_ID
from kimi_magic.emulator import Emulator, Reply

TOKEN = CANARY  # the session emulator's token (tests/conftest.py)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HELLO = {"messages": [{"role": "user", "content": "Hello there, emulator"}]}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def native_url(emu: Emulator, model: str = MODEL_ID) -> str:
    return f"{emu.base_url}/accounts/{emu.account_id}/ai/run/{model}"


def openai_url(emu: Emulator) -> str:
    return f"{emu.openai_base_url}/chat/completions"


def stream_body(**extra: Any) -> dict[str, Any]:
    return {**HELLO, "stream": True, **extra}


def sse_data(response: httpx.Response) -> list[str]:
    """The data payloads of a streamed response, in order."""
    return [line[6:] for line in response.iter_lines() if line.startswith("data: ")]


def stream(http: httpx.Client, emu: Emulator, **extra: Any) -> tuple[httpx.Response, list[str]]:
    with http.stream("POST", native_url(emu), headers=AUTH, json=stream_body(**extra)) as r:
        return r, sse_data(r)


def chunks(payloads: list[str]) -> list[dict[str, Any]]:
    """The JSON events before `[DONE]`."""
    return [json.loads(p) for p in payloads if p != "[DONE]"]


def deltas(payloads: list[str]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks(payloads) if c.get("choices")]


def joined(payloads: list[str], key: str) -> str:
    return "".join(d.get(key) or "" for d in deltas(payloads))


# -- endpoints --------------------------------------------------------------------------------


def test_native_reply_is_wrapped_in_the_cloudflare_envelope(
    emulator: Emulator, http: httpx.Client
) -> None:
    r = http.post(native_url(emulator), headers=AUTH, json=HELLO)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cf-ray"]
    body = r.json()
    assert body["success"] is True and body["errors"] == [] and body["messages"] == []
    completion = body["result"]
    assert completion["object"] == "chat.completion"
    assert completion["model"] == MODEL_ID
    assert completion["id"].startswith("chatcmpl-")
    message = completion["choices"][0]["message"]
    assert message["role"] == "assistant"
    assert "You asked: Hello there, emulator" in message["content"]
    assert message["reasoning"]
    assert completion["choices"][0]["finish_reason"] == "stop"
    usage = completion["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0}


def test_default_answer_exercises_the_markdown_renderer(
    emulator: Emulator, http: httpx.Client
) -> None:
    content = http.post(native_url(emulator), headers=AUTH, json=HELLO).json()["result"]
    text = content["choices"][0]["message"]["content"]
    assert "\n## " in "\n" + text
    assert "\n- " in text
    assert "|---" in text
    assert "```python\n" in text
    assert "$$" in text and " $e^" in text


@pytest.mark.parametrize("model_path", [MODEL_ID, MODEL_ID.replace("@", "%40")])
def test_native_model_may_arrive_percent_encoded(
    emulator: Emulator, http: httpx.Client, model_path: str
) -> None:
    r = http.post(native_url(emulator, model_path), headers=AUTH, json=HELLO)
    assert r.status_code == 200
    assert emulator.requests[-1]["path"].endswith(model_path)


def test_prompt_form_is_answered(emulator: Emulator, http: httpx.Client) -> None:
    r = http.post(native_url(emulator), headers=AUTH, json={"prompt": "Tell me a joke"})
    assert "You asked: Tell me a joke" in r.json()["result"]["choices"][0]["message"]["content"]


def test_openai_endpoint_returns_a_bare_completion(emulator: Emulator, http: httpx.Client) -> None:
    r = http.post(openai_url(emulator), headers=AUTH, json={**HELLO, "model": MODEL_ID})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion"
    assert "success" not in body


@pytest.mark.parametrize(
    ("model", "status", "code"), [(None, 400, 8001), ("@cf/meta/llama-3-8b", 400, 5007)]
)
def test_openai_endpoint_checks_the_model(
    emulator: Emulator, http: httpx.Client, model: str | None, status: int, code: int
) -> None:
    body = dict(HELLO) if model is None else {**HELLO, "model": model}
    r = http.post(openai_url(emulator), headers=AUTH, json=body)
    assert r.status_code == status
    assert r.json()["errors"][0]["code"] == code


@pytest.mark.parametrize(
    ("suffix", "shape"),
    [
        (f"/{MODEL_ID}", "native"),
        (f"/run/{MODEL_ID}", "native"),
        ("/v1/chat/completions", "openai"),
    ],
)
def test_ai_gateway_routes(emulator: Emulator, http: httpx.Client, suffix: str, shape: str) -> None:
    r = http.post(
        emulator.gateway_base_url + suffix, headers=AUTH, json={**HELLO, "model": MODEL_ID}
    )
    assert r.status_code == 200
    body = r.json()
    completion = body["result"] if shape == "native" else body
    assert completion["object"] == "chat.completion"
    assert ("result" in body) == (shape == "native")


def test_gateway_streams_too(emulator: Emulator, http: httpx.Client) -> None:
    url = f"{emulator.gateway_base_url}/v1/chat/completions"
    with http.stream("POST", url, headers=AUTH, json=stream_body(model=MODEL_ID)) as r:
        payloads = sse_data(r)
    assert payloads[-1] == "[DONE]"
    assert "You asked:" in joined(payloads, "content")


# -- errors before any answer -----------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}], ids=str
)
def test_bad_credentials_get_401_code_10000(
    emulator: Emulator, http: httpx.Client, headers: dict[str, str]
) -> None:
    r = http.post(native_url(emulator), headers=headers, json=HELLO)
    assert r.status_code == 401
    assert r.json() == {
        "success": False,
        "errors": [{"code": 10000, "message": "Authentication error"}],
        "messages": [],
        "result": None,
    }
    assert emulator.requests[-1]["authorized"] is False


def test_recorded_requests_never_hold_the_token(emulator: Emulator, http: httpx.Client) -> None:
    http.post(native_url(emulator), headers=AUTH, json=HELLO)
    recorded = emulator.requests[-1]
    assert recorded["headers"]["authorization"] == "Bearer <redacted>"
    assert recorded["authorized"] is True
    assert recorded["method"] == "POST"
    assert recorded["json"] == HELLO
    assert TOKEN not in json.dumps(emulator.requests)


def test_wrong_account_gets_404_code_7003(emulator: Emulator, http: httpx.Client) -> None:
    url = f"{emulator.base_url}/accounts/someone-else/ai/run/{MODEL_ID}"
    r = http.post(url, headers=AUTH, json=HELLO)
    assert r.status_code == 404
    error = r.json()["errors"][0]
    assert error["code"] == 7003
    assert error["message"].startswith("Could not route to /client/v4/accounts/someone-else/")
    assert error["message"].endswith("perhaps your object identifier is invalid?")


def test_unknown_model_gets_400_code_5007(emulator: Emulator, http: httpx.Client) -> None:
    r = http.post(native_url(emulator, "@cf/moonshotai/kimi-k9"), headers=AUTH, json=HELLO)
    assert r.status_code == 400
    error = r.json()["errors"][0]
    assert error["code"] == 5007
    assert "No such model @cf/moonshotai/kimi-k9" in error["message"]


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"",
        b"{}",
        b"[1, 2]",
        json.dumps({"messages": []}).encode(),
        json.dumps({"prompt": ""}).encode(),
        json.dumps({**HELLO, "prompt": "both"}).encode(),
        json.dumps({**HELLO, "temperature": 7}).encode(),
        json.dumps({**HELLO, "max_tokens": "many"}).encode(),
        json.dumps({"messages": [{"content": "no role"}]}).encode(),
        json.dumps(
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                    }
                ]
            }
        ).encode(),
    ],
    ids=lambda c: c.decode()[:40] or "empty",
)
def test_invalid_input_gets_400_code_8001(
    emulator: Emulator, http: httpx.Client, content: bytes
) -> None:
    emulator.script(Reply.text("never sent"))
    r = http.post(native_url(emulator), headers=AUTH, content=content)
    assert r.status_code == 400
    error = r.json()["errors"][0]
    assert error["code"] == 8001
    assert error["message"].startswith("AiError: Invalid input")
    assert emulator.queued == 1, "a rejected request must not use up a scripted reply"


def test_unknown_path_and_wrong_method(emulator: Emulator, http: httpx.Client) -> None:
    r = http.post(f"{emulator.base_url}/accounts/{emulator.account_id}/nothing", headers=AUTH)
    assert (r.status_code, r.json()["errors"][0]["code"]) == (404, 7000)
    r = http.get(native_url(emulator), headers=AUTH)
    assert (r.status_code, r.json()["success"]) == (405, False)


def test_chunked_request_bodies_are_read(emulator: Emulator, http: httpx.Client) -> None:
    parts = [b'{"messages": [{"role": "user", ', b'"content": "sent in pieces"}]}']
    headers = {**AUTH, "Content-Type": "application/json"}
    r = http.post(native_url(emulator), headers=headers, content=iter(parts))
    assert emulator.requests[-1]["headers"]["transfer-encoding"] == "chunked"
    assert "You asked: sent in pieces" in r.json()["result"]["choices"][0]["message"]["content"]


def test_image_data_urls_are_accepted(emulator: Emulator, http: httpx.Client) -> None:
    part = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    text = {"type": "text", "text": "What is this?"}
    body = {"messages": [{"role": "user", "content": [text, part]}]}
    r = http.post(native_url(emulator), headers=AUTH, json=body)
    assert "What is this? (with 1 image)" in r.json()["result"]["choices"][0]["message"]["content"]


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
    emulator.configure(rate=50)
    emulator.script(Reply.text("abcdefghij", chunks=10), Reply.text("ab", chunks=2, rate=1000))
    started = time.monotonic()
    stream(http, emulator)  # 12 writes, 11 gaps of 20 ms
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    stream(http, emulator)
    assert time.monotonic() - started < 0.2


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


# -- faults -----------------------------------------------------------------------------------


def test_http_error_with_retry_after(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.http_error(429, 3040, retry_after=2))
    r = http.post(native_url(emulator), headers=AUTH, json=stream_body())
    assert r.status_code == 429
    assert r.headers["retry-after"] == "2"
    assert r.headers["content-type"] == "application/json"
    error = r.json()["errors"][0]
    assert error["code"] == 3040 and error["message"].startswith("AiError: ")
    assert r.json()["success"] is False
    again = http.post(native_url(emulator), headers=AUTH, json=HELLO)
    assert again.status_code == 200, "each request takes one scripted reply"


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ({"code": 3036}, 429, 3036),
        ({"code": 5035}, 403, 5035),
        ({"code": 3007}, 408, 3007),
        ({"status": 503}, 503, 3043),
        ({"status": 413}, 413, 3006),
        ({"status": 500, "code": 3040, "message": "AiError: busy"}, 500, 3040),
    ],
)
def test_http_error_statuses_and_codes(
    emulator: Emulator, http: httpx.Client, fault: dict[str, Any], status: int, code: int
) -> None:
    emulator.script({"fault": {"type": "http_error", **fault}})
    r = http.post(native_url(emulator), headers=AUTH, json=HELLO)
    assert r.status_code == status
    assert r.json()["errors"][0]["code"] == code
    assert "retry-after" not in r.headers


def test_openai_shaped_error(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.openai_error(400, "max_tokens is too large"))
    r = http.post(openai_url(emulator), headers=AUTH, json={**HELLO, "model": MODEL_ID})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["message"] == "max_tokens is too large"
    assert error["type"] == "invalid_request_error"
    assert "code" in error


def test_json_error_with_status_200_to_a_stream_request(
    emulator: Emulator, http: httpx.Client
) -> None:
    emulator.script(Reply.json_error_200(3040))
    with http.stream("POST", native_url(emulator), headers=AUTH, json=stream_body()) as r:
        body = json.loads(r.read())
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert body["success"] is False and body["errors"][0]["code"] == 3040


def test_disconnect_mid_stream(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.fault("disconnect", after_chunks=3, content="abcdefghijklmnop"))
    received: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        http.stream("POST", native_url(emulator), headers=AUTH, json=stream_body()) as r,
    ):
        received.extend(line for line in r.iter_lines() if line)
    assert len(received) == 3
    assert http.post(native_url(emulator), headers=AUTH, json=HELLO).status_code == 200


def test_disconnect_before_a_plain_response(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.fault("disconnect"))
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(native_url(emulator), headers=AUTH, json=HELLO)


def test_malformed_event_then_the_stream_goes_on(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.fault("malformed", after_chunks=2, content="abcdefgh"))
    _, payloads = stream(http, emulator)
    assert payloads[2] == "{not json"
    assert payloads[-1] == "[DONE]"
    good = [p for p in payloads if p != "{not json"]
    assert joined(good, "content") == "abcdefgh"


def test_stream_error_event_ends_the_stream(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(
        Reply.fault("stream_error", 2, message="AiError: model crashed", content="ab" * 8)
    )
    _, payloads = stream(http, emulator)
    assert len(payloads) == 3
    assert json.loads(payloads[-1])["error"]["message"] == "AiError: model crashed"


@pytest.mark.parametrize("after_chunks", [None, 2])
def test_no_done_ends_cleanly_without_finish(
    emulator: Emulator, http: httpx.Client, after_chunks: int | None
) -> None:
    emulator.script(Reply.fault("no_done", after_chunks, content="abcdefghijkl"))
    _, payloads = stream(http, emulator)  # read to the end without a protocol error
    assert "[DONE]" not in payloads
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks(payloads))
    assert len(payloads) == (3 if after_chunks is None else 2)


def test_stall_mid_stream(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.fault("stall", after_chunks=1, seconds=0.3, content="abcdefgh"))
    stamps: list[float] = []
    with http.stream("POST", native_url(emulator), headers=AUTH, json=stream_body()) as r:
        for line in r.iter_lines():
            if line:
                stamps.append(time.monotonic())
    assert stamps[1] - stamps[0] >= 0.25
    assert stamps[-1] - stamps[1] < 0.25


def test_stall_before_headers(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.fault("stall", seconds=0.3))
    started = time.monotonic()
    r = http.post(native_url(emulator), headers=AUTH, json=HELLO)
    assert r.status_code == 200
    assert time.monotonic() - started >= 0.25
    with pytest.raises(httpx.ReadTimeout):
        emulator.script(Reply.fault("stall", seconds=1))
        http.post(native_url(emulator), headers=AUTH, json=HELLO, timeout=0.2)


def test_client_hanging_up_mid_stream_is_harmless(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.text("x" * 200, chunk_chars=1, rate=200))
    with http.stream("POST", native_url(emulator), headers=AUTH, json=stream_body()) as r:
        for line in r.iter_lines():
            if line:
                break
    # The server notices on a later write; the fixture fails the test if it raised.
    time.sleep(0.1)
    assert http.post(native_url(emulator), headers=AUTH, json=HELLO).status_code == 200


def test_raw_chunks_are_sent_as_written(emulator: Emulator, http: httpx.Client) -> None:
    event = 'data: {"choices":[{"index":0,"delta":{"content":"é"}}]}\n\n'.encode()
    cut = event.index("é".encode()) + 1  # inside the two bytes of "é"
    writes = [event[:cut], event[cut:], b"data: [DONE]\n\n"]
    emulator.script(Reply.raw(writes, status=200, content_type="text/event-stream; charset=utf-8"))
    with http.stream("POST", native_url(emulator), headers=AUTH, json=stream_body()) as r:
        raw = r.read()
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert raw == b"".join(writes)


def test_raw_chunks_with_an_error_status(emulator: Emulator, http: httpx.Client) -> None:
    chunk = base64.b64encode(b"upstream gone").decode()
    emulator.script({"raw_chunks_b64": [chunk], "status": 502, "content_type": "text/plain"})
    r = http.post(native_url(emulator), headers=AUTH, json=HELLO)
    assert (r.status_code, r.text) == (502, "upstream gone")


# -- scripting from another process -----------------------------------------------------------


def test_http_control_endpoints(emulator: Emulator, http: httpx.Client) -> None:
    control = f"http://127.0.0.1:{emulator.port}/_emulator"
    r = http.post(f"{control}/script", json=[Reply.text("scripted one"), Reply.http_error(429)])
    assert r.json() == {"queued": 2}
    first = http.post(native_url(emulator), headers=AUTH, json=HELLO).json()
    assert first["result"]["choices"][0]["message"]["content"] == "scripted one"
    assert http.post(native_url(emulator), headers=AUTH, json=HELLO).status_code == 429

    recorded = http.get(f"{control}/requests").json()
    assert [q["json"] for q in recorded] == [HELLO, HELLO]
    assert all(q["headers"]["authorization"] == "Bearer <redacted>" for q in recorded)

    config = http.post(f"{control}/config", json={"reasoning_field": "reasoning_content"}).json()
    assert config == {"rate": None, "reasoning_field": "reasoning_content"}
    message = http.post(native_url(emulator), headers=AUTH, json=HELLO).json()["result"]
    assert "reasoning_content" in message["choices"][0]["message"]

    assert http.post(f"{control}/reset").json() == {"ok": True}
    assert http.get(f"{control}/requests").json() == []
    assert http.get(f"{control}/config").json()["reasoning_field"] == "reasoning"


@pytest.mark.parametrize(
    ("endpoint", "payload"),
    [
        ("script", [{"contents": "typo"}]),
        ("script", [{"fault": {"type": "meteor"}}]),
        ("script", [{"fault": {"type": "stall", "seconds": "long"}}]),
        ("script", [{"chunk_chars": 0}]),
        ("script", [{"raw_chunks_b64": ["not base64!"]}]),
        ("config", {"reasoning_field": "thoughts"}),
        ("config", {"rate": -1}),
        ("config", {"speed": 3}),
    ],
)
def test_control_endpoints_reject_mistakes(
    emulator: Emulator, http: httpx.Client, endpoint: str, payload: object
) -> None:
    r = http.post(f"http://127.0.0.1:{emulator.port}/_emulator/{endpoint}", json=payload)
    assert r.status_code == 400
    assert r.json()["error"]
    assert emulator.queued == 0


def test_script_rejects_unknown_keys(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="Unknown reply keys"):
        emulator.script({"contents": "typo"})


# -- async batch ------------------------------------------------------------------------------


def test_async_batch_queue_then_poll(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.text("first scripted"))
    requests = [
        {"messages": [{"role": "user", "content": f"Row {i}"}], "external_reference": f"r{i}"}
        for i in range(4)
    ]
    url = native_url(emulator)
    queued = http.post(
        url, params={"queueRequest": "true"}, headers=AUTH, json={"requests": requests}
    )
    assert queued.status_code == 200
    result = queued.json()["result"]
    assert result["status"] == "queued"
    request_id = result["request_id"]

    poll = http.post(
        url, params={"queueRequest": "true"}, headers=AUTH, json={"request_id": request_id}
    )
    assert poll.json()["result"]["status"] == "queued"
    done = http.post(url, headers=AUTH, json={"request_id": request_id}).json()["result"]
    responses = done["responses"]
    assert sorted(r["id"] for r in responses) == [0, 1, 2, 3]
    assert [r["id"] for r in responses] != [0, 1, 2, 3], "results come back in any order"
    by_id = {r["id"]: r for r in responses}
    for i in range(4):
        assert by_id[i]["success"] is True
        assert by_id[i]["external_reference"] == f"r{i}"
        assert by_id[i]["result"]["object"] == "chat.completion"
    assert by_id[0]["result"]["choices"][0]["message"]["content"] == "first scripted"
    assert "You asked: Row 3" in by_id[3]["result"]["choices"][0]["message"]["content"]


def test_async_batch_rejects_bad_items_and_unknown_ids(
    emulator: Emulator, http: httpx.Client
) -> None:
    url = native_url(emulator)
    bad = {"requests": [HELLO, {"messages": []}]}
    r = http.post(url, params={"queueRequest": "true"}, headers=AUTH, json=bad)
    assert r.status_code == 400 and "requests[1]" in r.json()["errors"][0]["message"]
    r = http.post(url, headers=AUTH, json={"request_id": "nope"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 8001


# -- the published schema ---------------------------------------------------------------------


def test_schema_validator_rejects_temperature_7(
    validate_request: Callable[[dict[str, Any]], None],
) -> None:
    import jsonschema

    validate_request({**HELLO, "temperature": 0.7})
    with pytest.raises(jsonschema.ValidationError):
        validate_request({**HELLO, "temperature": 7})


def test_emulator_accepts_what_the_schema_accepts(
    emulator: Emulator, http: httpx.Client, validate_request: Callable[[dict[str, Any]], None]
) -> None:
    bodies: list[dict[str, Any]] = [
        HELLO,
        {"prompt": "Hi", "max_tokens": 64},
        {**HELLO, "stream": True, "temperature": 0.2, "reasoning_effort": "low"},
        {**HELLO, "chat_template_kwargs": {"enable_thinking": False}},
        {**HELLO, "response_format": {"type": "json_object"}},
    ]
    for body in bodies:
        validate_request(body)
        with http.stream("POST", native_url(emulator), headers=AUTH, json=body) as r:
            r.read()
        assert r.status_code == 200, body


# -- lifecycle and the command line -----------------------------------------------------------


def test_stop_closes_open_connections_and_the_port() -> None:
    emu = Emulator(token="t", account_id="a").start()
    url, headers = native_url(emu), {"Authorization": "Bearer t"}
    with httpx.Client(timeout=5) as client:
        assert client.post(url, headers=headers, json=HELLO).status_code == 200
        started = time.monotonic()
        emu.stop()  # the client still holds a keep-alive connection
        assert time.monotonic() - started < 1.5
        with pytest.raises(httpx.TransportError):
            client.post(url, headers=headers, json=HELLO)


def native_url_for(base_url: str, account: str) -> str:
    return f"{base_url}/accounts/{account}/ai/run/{MODEL_ID}"


def test_command_line_prints_the_exports_and_serves() -> None:
    command = [sys.executable, "-m", "kimi_magic.emulator", "--port", "0", "--token", "cli-token"]
    command += ["--account", "cli-account", "--reasoning-field", "both"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
        exports = dict(
            line.split("export ", 1)[1].strip().split("=", 1) for line in lines if "export " in line
        )
        try:
            assert exports["CLOUDFLARE_ACCOUNT_ID"] == "cli-account"
            assert exports["CLOUDFLARE_API_TOKEN"] == "cli-token"
            url = native_url_for(exports["KIMI_MAGIC_BASE_URL"], "cli-account")
            r = httpx.post(url, headers={"Authorization": "Bearer cli-token"}, json=HELLO)
            message = r.json()["result"]["choices"][0]["message"]
            assert {"reasoning", "reasoning_content"} <= set(message)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.stdout.read()
        assert proc.wait(timeout=5) == 0


def test_an_image_costs_tokens_by_its_size_not_its_base64_length() -> None:
    import io

    from PIL import Image

    from kimi_magic.emulator._usage import estimate_tokens, prompt_text

    def body_with(width: int, height: int) -> dict[str, Any]:
        buffer = io.BytesIO()
        Image.effect_noise((width, height), 64).save(buffer, "PNG")  # noise: a large file
        url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        return {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": url}},
                    ],
                }
            ]
        }

    small, large = (
        estimate_tokens(prompt_text(body_with(w, h))) for w, h in ((280, 280), (560, 560))
    )
    assert 100 <= small <= 200 and 400 <= large <= 500  # ~w*h/784 + the text
