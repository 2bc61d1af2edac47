"""kimi_magic.ask and the %kimi magic against the foreign server."""

from __future__ import annotations

import pytest
from foreign_server import (
    ANSWER,
    THOUGHT,
    TOKEN,
    ForeignServer,
    Reply,
    _chunk,
    chunks,
    cost,
    error_reply,
    sse,
)
from IPython.core.interactiveshell import InteractiveShell

import kimi_magic

# -- through kimi_magic.ask and the %kimi magic -----------------------------------------------


def test_kimi_magic_ask(env: ForeignServer) -> None:
    env.script(Reply(sse(chunks("Fine.", "ok")), version="HTTP/1.0"))
    answer = kimi_magic.ask("How are you?", temperature=0.2)
    assert (answer.text, answer.reasoning, answer.finish_reason) == ("Fine.", "ok", "stop")
    assert answer.cost == pytest.approx(cost(1200, 1000, 2))
    assert env.requests[0].json["temperature"] == 0.2


def test_the_magic_streams_and_counts_usage(
    shell: InteractiveShell, server: ForeignServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.script(
        Reply(sse(chunks(ANSWER, THOUGHT)), hold_open=True),
        error_reply(429, 3040, "Capacity", **{"Retry-After": "0"}),
        Reply(sse(chunks("Second.")), framing="chunked", gzip=True),
    )
    assert shell.run_cell("%%kimi\nWhich plots?").error_in_exec is None
    assert shell.run_cell("%kimi and then?").error_in_exec is None
    out = capsys.readouterr().out
    assert f"Thinking: {THOUGHT}" in out and ANSWER in out and "Second." in out
    assert "in 1,200 (cached 1,000)" in out and "$0.0" in out
    assert len(server.requests) == 3
    affinity = {r.headers.get("x-session-affinity") for r in server.requests}
    assert len(affinity) == 1 and None not in affinity  # one conversation, one replica
    history = server.requests[-1].json["messages"]
    assert [m["content"] for m in history] == ["Which plots?\n", ANSWER, "and then?"]
    shell.run_cell("%kimi usage")
    usage = capsys.readouterr().out
    assert "| default | 2 | 2,400 | 2,000 |" in usage


def test_tool_calls_are_shown_where_widgets_cannot_render(
    shell: InteractiveShell, server: ForeignServer, capsys: pytest.CaptureFixture[str]
) -> None:
    first = {"index": 0, "id": "functions.get_weather:0", "type": "function"}
    first["function"] = {"name": "get_weather", "arguments": '{"city": '}
    rest = {"index": 0, "function": {"arguments": '"Oslo"}'}}
    events = [
        _chunk([{"index": 0, "delta": {"reasoning_content": "need data"}}], 1, (30, 0)),
        _chunk([{"index": 0, "delta": {"tool_calls": [first]}}], 2, (30, 0)),
        _chunk([{"index": 0, "delta": {"tool_calls": [rest]}}], 3, (30, 0)),
        _chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}], 4, (30, 0)),
    ]
    server.script(Reply(sse(events)), Reply(sse(events)))
    assert shell.run_cell("%kimi weather in Oslo?").error_in_exec is None
    kimi_magic.ask("weather in Oslo?", echo=True)
    out = capsys.readouterr().out
    assert out.count('Tool call get_weather: {"city": "Oslo"}') == 2


def test_the_magic_error_paragraph(
    shell: InteractiveShell, server: ForeignServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.script(error_reply(401, 10000, "Authentication error", openai=True))
    result = shell.run_cell("%kimi hello")
    err = capsys.readouterr().err
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "CLOUDFLARE_API_TOKEN" in err and "Traceback" not in err and TOKEN not in err


def test_the_magic_keeps_a_truncated_answer(
    shell: InteractiveShell, server: ForeignServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.script(
        Reply(sse(chunks("Half an", "thinking", finish=None), done=False), version="HTTP/1.0"),
        Reply(sse(chunks("The rest."))),
    )
    result = shell.run_cell("%kimi tell me")
    captured = capsys.readouterr()
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "Half an" in captured.out and "truncated" in captured.err
    shell.run_cell("%kimi go on")
    history = server.requests[-1].json["messages"]
    # The partial answer goes back marked, so the model knows it was cut short.
    cut = "Half an\n\n[This answer was cut short: the connection broke.]"
    assert [m["content"] for m in history] == ["tell me", cut, "go on"]


@pytest.mark.parametrize("api", ["native", "openai"])
def test_the_magic_asks_for_and_parses_json(
    shell: InteractiveShell, server: ForeignServer, api: str
) -> None:
    schema = {"title": "City", "type": "object", "properties": {"name": {"type": "string"}}}
    shell.user_ns["City"] = schema
    shell.run_line_magic("config", f"KimiMagics.api = {api!r}")
    server.script(
        Reply(sse(chunks('```json\n{"name": "Oslo"}\n```'))),
        Reply(sse(chunks('{"any": 1}'))),
    )
    assert shell.run_cell("%kimi --schema City -o city a city?").error_in_exec is None
    assert shell.run_cell("%kimi --json -o anything any object?").error_in_exec is None
    assert shell.user_ns["city"] == {"name": "Oslo"} and shell.user_ns["anything"] == {"any": 1}
    first, second = (r.json["response_format"] for r in server.requests)
    assert first["type"] == "json_schema" and first["json_schema"]["name"]
    assert second == {"type": "json_object"}
