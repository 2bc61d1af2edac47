"""The emulator's tool calling: object arguments, replies built from the tool results a request
carries, and the tool-call protocol checks a real server makes."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from _canary import CANARY

from kimi_magic.core.constants import MODEL_ID
from kimi_magic.emulator import Emulator

AUTH = {"Authorization": f"Bearer {CANARY}"}  # the session emulator's token
CALL = {"id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{}"}}


def post(http: httpx.Client, emu: Emulator, messages: list[Any], **extra: Any) -> httpx.Response:
    url = f"{emu.base_url}/accounts/{emu.account_id}/ai/run/{MODEL_ID}"
    return http.post(url, headers=AUTH, json={"messages": messages, **extra})


def stream_deltas(http: httpx.Client, emu: Emulator, messages: list[Any]) -> list[dict[str, Any]]:
    url = f"{emu.base_url}/accounts/{emu.account_id}/ai/run/{MODEL_ID}"
    body = {"messages": messages, "stream": True}
    with http.stream("POST", url, headers=AUTH, json=body) as response:
        data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    events = [json.loads(d) for d in data if d != "[DONE]"]
    return [e["choices"][0]["delta"] for e in events if e.get("choices")]


def test_arguments_can_stream_as_one_object(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(
        {"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}, "arguments_object": True}]}
    )
    pieces = [
        d["tool_calls"][0] for d in stream_deltas(http, emulator, [user("hi")]) if "tool_calls" in d
    ]
    assert pieces == [
        {
            "index": 0,
            "id": "functions.add:0",
            "type": "function",
            "function": {"name": "add", "arguments": {"a": 1, "b": 2}},
        }
    ]


def test_a_scripted_call_id_is_sent_as_given(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script({"tool_calls": [{"id": "call_x9", "name": "add", "arguments": "{}"}]})
    heads = [
        d["tool_calls"][0] for d in stream_deltas(http, emulator, [user("hi")]) if "tool_calls" in d
    ]
    assert heads[0]["id"] == "call_x9"


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def round_two(results: list[str], images: int = 0) -> list[dict[str, Any]]:
    """A request after a round of len(results) parallel calls."""
    calls = [{**CALL, "id": f"call_{i}"} for i in range(len(results))]
    messages: list[dict[str, Any]] = [
        user("add things"),
        {"role": "assistant", "content": None, "tool_calls": calls},
    ]
    messages += [
        {"role": "tool", "tool_call_id": f"call_{i}", "content": text}
        for i, text in enumerate(results)
    ]
    if images:
        url = "data:image/png;base64,iVBORw0KGgo="
        parts = [{"type": "image_url", "image_url": {"url": url}}] * images
        messages.append({"role": "user", "content": [{"type": "text", "text": "images"}, *parts]})
    return messages


def test_a_reply_can_quote_the_tool_results_it_received(
    emulator: Emulator, http: httpx.Client
) -> None:
    emulator.script(
        {"content": "first={{tool_result:0}} second={{tool_result:1}} images={{images}}"},
        {"content": "all:\n{{tool_results}} missing={{tool_result:5}}"},
    )
    first = post(http, emulator, round_two(["3", "7"], images=2)).json()["result"]
    assert first["choices"][0]["message"]["content"] == "first=3 second=7 images=2"
    second = post(http, emulator, round_two(["a", "b"])).json()["result"]
    assert second["choices"][0]["message"]["content"] == "all:\na\nb missing=(no tool result 5)"


def test_tool_arguments_can_use_earlier_results(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script({"tool_calls": [{"name": "add", "arguments": '{"a": {{tool_result:0}}}'}]})
    result = post(http, emulator, round_two(["41"])).json()["result"]
    arguments = result["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(arguments) == {"a": 41}


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        ([user("hi"), {"role": "tool", "tool_call_id": "call_9", "content": "x"}], "no earlier"),
        (
            [user("hi"), {"role": "assistant", "content": None, "tool_calls": [CALL]}, user("?")],
            "comes before the tool results",
        ),
        (
            [user("hi"), {"role": "assistant", "content": None, "tool_calls": [CALL]}],
            "ends before the tool results",
        ),
    ],
    ids=["orphan result", "user before result", "unanswered call"],
)
def test_the_tool_call_protocol_is_checked(
    emulator: Emulator, http: httpx.Client, messages: list[Any], problem: str
) -> None:
    response = post(http, emulator, messages)
    assert response.status_code == 400
    assert problem in response.json()["errors"][0]["message"]


def test_results_then_a_user_message_with_images_pass(
    emulator: Emulator, http: httpx.Client
) -> None:
    assert post(http, emulator, round_two(["1", "2"], images=1)).status_code == 200
