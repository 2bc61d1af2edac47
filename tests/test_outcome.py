"""How an answer ended, as the user and the model see it: an answer cut at the token limit is
partial everywhere (the cell, `-o`, history, the next request), a tool round cut there sends
nothing invalid and loses no turn, and an error before any answer has no usage footer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError

from kimi_magic.emulator import Emulator
from kimi_magic.tools.registry import REGISTRY, tool_from_function

HALF = "The first half of an answer that ran out of tokens"


@pytest.fixture
def add_tool() -> Iterator[list[Any]]:
    ran: list[Any] = []

    def add(a: int, b: int) -> int:
        """Add two integers."""
        ran.append((a, b))
        return a + b

    REGISTRY.add(tool_from_function(add))
    yield ran
    REGISTRY.remove("add")


@pytest.mark.usefixtures("schema_checked")
def test_an_answer_cut_at_the_token_limit_is_partial_everywhere(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script({"content": HALF, "finish_reason": "length"})
    controls_shell.run_cell_magic("kimi", "-o summary", "Summarise the data")
    shown = capsys.readouterr().out
    assert HALF in shown and "Cut at the token limit" in shown
    assert "summary" not in controls_shell.user_ns  # a partial answer is not stored as whole
    assert "`summary` was not set: the answer is partial" in shown
    controls_shell.run_line_magic("kimi", "history")
    assert "cut at the token limit: the answer is partial" in capsys.readouterr().out
    controls_shell.run_line_magic("kimi", "go on")
    sent = emulator.requests[-1]["json"]["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": f"{HALF}\n\n[This answer was cut short: it reached the token limit.]",
    }


@pytest.mark.usefixtures("schema_checked")
def test_a_tool_round_cut_at_the_token_limit_runs_nothing_and_sends_nothing_invalid(
    controls_shell: Any, emulator: Emulator, add_tool: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # What llama.cpp sends when max_completion_tokens ends inside a tool call's arguments.
    emulator.script(
        {"tool_calls": [{"name": "add", "arguments": '{"a": 20, "b'}], "finish_reason": "length"}
    )
    controls_shell.run_cell_magic("kimi", "--tools add", "Add 20 and 22")
    shown = capsys.readouterr().out
    assert add_tool == []  # the cut call did not run
    assert len(emulator.requests) == 1  # and its arguments were not sent back
    assert "Cut at the token limit" in shown
    controls_shell.run_line_magic("kimi", "Try again with fewer words")  # the turn is kept
    for request in emulator.requests:
        for message in request["json"]["messages"]:
            for call in message.get("tool_calls") or []:
                json.loads(call["function"]["arguments"])  # never invalid JSON
    roles = [m["role"] for m in emulator.requests[-1]["json"]["messages"]]
    assert roles == ["user", "assistant", "user"]


def test_an_error_before_any_answer_has_no_usage_footer(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script({"fault": {"type": "http_error", "status": 401, "code": 10000}})
    with pytest.raises(UsageError):
        controls_shell.run_cell_magic("kimi", "", "Hello")
    shown = capsys.readouterr().out
    assert "cut short" not in shown and "out ≈" not in shown


def test_the_python_api_reports_the_token_limit(
    emulator: Emulator, emulator_connection: dict[str, Any]
) -> None:
    import kimi_magic

    emulator.script({"content": HALF, "finish_reason": "length"})
    answer = kimi_magic.ask("Summarise", **emulator_connection)
    assert answer.text == HALF and not answer.complete and answer.ended == "token_limit"
