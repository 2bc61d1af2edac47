"""Streams in every shape the protocol allows, and streams that break, from the foreign server."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from foreign_server import (
    ANSWER,
    MODEL,
    THOUGHT,
    ForeignServer,
    Reply,
    _chunk,
    chunks,
    cost,
    sse,
)
from waiting import finishes, wait_until

from kimi_magic import Kimi, StreamError

# -- streams ----------------------------------------------------------------------------------

STREAM_SHAPES = {
    "close-delimited HTTP/1.0": dict(version="HTTP/1.0"),
    "close-delimited HTTP/1.1": dict(),
    "chunked, cut through characters": dict(framing="chunked", split=7),
    "gzip, chunked": dict(framing="chunked", gzip=True),
    "gzip, close-delimited": dict(gzip=True, split=11),
    "[DONE] then held open": dict(hold_open=True),
    "[DONE] then held open, chunked": dict(framing="chunked", hold_open=True, split=5),
}


@pytest.mark.parametrize("shape", STREAM_SHAPES.values(), ids=list(STREAM_SHAPES))
def test_a_stream_in_every_allowed_shape(
    kimi: Kimi, server: ForeignServer, shape: dict[str, Any]
) -> None:
    split = shape.pop("split", None)
    server.script(Reply(sse(chunks(ANSWER, THOUGHT), split=split), **shape))
    # A client that waited for the server to close would wait until the guard: the server
    # holds the connection until the client leaves.
    answer = finishes(lambda: kimi.ask("Which plots?"), "a call whose connection is held open")
    if shape.get("hold_open"):
        wait_until(lambda: server.left_while_held == 1, "the client to leave the held connection")
    assert (answer.text, answer.reasoning) == (ANSWER, THOUGHT)
    words = len(re.findall(r"\S+\s*", ANSWER + " " + THOUGHT))
    assert (answer.usage.prompt_tokens, answer.usage.cached_tokens) == (1200, 1000)
    assert answer.usage.completion_tokens == words
    assert answer.cost == pytest.approx(cost(1200, 1000, words))
    assert answer.finish_reason == "stop" and answer.complete
    assert answer.request_id == "chatcmpl-foreign-7"  # no cf-ray: the completion id
    assert answer.model == MODEL
    sent = server.requests[-1]
    assert sent.json["stream"] is True and sent.json["messages"][-1]["content"] == "Which plots?"


def test_a_done_marker_with_stray_whitespace_ends_the_stream(
    kimi: Kimi, server: ForeignServer
) -> None:
    body = [*sse(chunks("Done.", finish=None), done=False), b"data:  [DONE] \r\n\r\n"]
    server.script(Reply(body, hold_open=True))
    answer = kimi.ask("hi")
    assert answer.text == "Done." and answer.complete


def test_a_connection_is_reused_after_a_whole_chunked_stream(
    kimi: Kimi, server: ForeignServer
) -> None:
    server.script(
        Reply(sse(chunks("one")), framing="chunked"), Reply(sse(chunks("two")), framing="chunked")
    )
    assert [kimi.ask("1").text, kimi.ask("2").text] == ["one", "two"]


def test_reasoning_beside_a_null_or_empty_reasoning_field(
    kimi: Kimi, server: ForeignServer
) -> None:
    events = [
        _chunk([{"index": 0, "delta": {"reasoning": None, "reasoning_content": "a "}}], 1, (9, 0)),
        _chunk([{"index": 0, "delta": {"reasoning": "", "reasoning_content": "b"}}], 2, (9, 0)),
        _chunk([{"index": 0, "delta": {"content": "c"}, "finish_reason": "stop"}], 3, (9, 0)),
    ]
    server.script(Reply(sse(events)))
    answer = kimi.ask("?")
    assert (answer.reasoning, answer.text) == ("a b", "c")


def test_a_response_field_beside_choices_does_not_repeat_the_text(
    kimi: Kimi, server: ForeignServer
) -> None:
    events = [
        {**_chunk([{"index": 0, "delta": {"content": word}}], n, (9, 0)), "response": word}
        for n, word in enumerate(["Once ", "only."], 1)
    ]
    events.append(_chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}], 2, (9, 0)))
    server.script(Reply(sse(events)))
    assert kimi.ask("?").text == "Once only."


def test_tool_calls_keyed_by_index(kimi: Kimi, server: ForeignServer) -> None:
    def piece(index: int, **function: str) -> dict[str, Any]:
        call: dict[str, Any] = {"index": index, "function": function}
        if "name" in function:
            call.update(id=f"functions.{function['name']}:{index}", type="function")
        return _chunk([{"index": 0, "delta": {"tool_calls": [call]}}], 3, (40, 0))

    events = [
        piece(0, name="get_weather", arguments=""),
        piece(0, arguments='{"city": '),
        piece(1, name="get_time", arguments='{"tz"'),
        piece(0, arguments='"Paris"}'),
        piece(1, arguments=': "CET"}'),
        _chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}], 9, (40, 0)),
    ]
    server.script(Reply(sse(events), framing="chunked"))
    tools = [
        {
            "type": "function",
            "function": {
                "name": name,
                "description": "look it up",
                "parameters": {"type": "object", "properties": {}},
            },
        }
        for name in ("get_weather", "get_time")
    ]
    answer = kimi.ask("Weather and time in Paris?", tools=tools)
    assert [(c.id, c.name, json.loads(c.arguments)) for c in answer.tool_calls] == [
        ("functions.get_weather:0", "get_weather", {"city": "Paris"}),
        ("functions.get_time:1", "get_time", {"tz": "CET"}),
    ]
    assert answer.finish_reason == "tool_calls" and answer.text == ""
    assert answer.usage.completion_tokens == 9
    assert server.requests[0].json["tools"] == tools


# -- streams that break -----------------------------------------------------------------------

BROKEN = {
    "no [DONE], no finish, clean close": (
        Reply(sse(chunks("Half an", finish=None), done=False)),
        "truncated",
    ),
    "chunked, connection dropped": (
        Reply(sse(chunks("Half an", finish=None), done=False), framing="chunked", cut=True),
        "connection broke",
    ),
    "an OpenAI-shaped error event": (
        Reply(sse([*chunks("Half an", finish=None), {"error": {"message": "AiError: boom"}}])),
        '"boom"',
    ),
    "a Cloudflare error event": (
        Reply(
            sse([*chunks("Half an", finish=None), {"success": False, "errors": [{"code": 3040}]}])
        ),
        "Cloudflare error 3040",
    ),
}


@pytest.mark.parametrize("reply, said", BROKEN.values(), ids=list(BROKEN))
def test_a_broken_stream_keeps_the_partial_answer(
    kimi: Kimi, server: ForeignServer, reply: Reply, said: str
) -> None:
    server.script(reply)
    with pytest.raises(StreamError) as caught:
        kimi.ask("hi")
    assert said in str(caught.value)
    partial = caught.value.answer
    assert partial is not None and partial.text == "Half an" and partial.truncated
    assert len(server.requests) == 1  # the answer had started: no retry
