"""Tools from plain Python: `kimi_magic.tool`, and `kimi_magic.ask(..., tools=[...])`."""

from __future__ import annotations

from typing import Any

import pytest

import kimi_magic
from kimi_magic.emulator import Emulator


@pytest.fixture
def connection(emulator_connection: dict[str, Any]) -> dict[str, Any]:
    return emulator_connection


@pytest.mark.usefixtures("schema_checked")
def test_ask_with_a_function_as_a_tool(emulator: Emulator, connection: Any) -> None:
    def weather(city: str) -> str:
        """Today's weather in a city."""
        return f"{city}: 21 C, sunny"

    emulator.script(
        {"tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}}]},
        {"content": "It says: {{tool_result:0}}"},
    )
    answer = kimi_magic.ask("Weather in Oslo?", tools=[weather], **connection)
    assert answer.text == "It says: Oslo: 21 C, sunny"
    assert emulator.requests[0]["json"]["tools"][0]["function"]["name"] == "weather"


def test_the_decorator_and_a_registered_name(emulator: Emulator, connection: Any) -> None:
    @kimi_magic.tool(name="kimi_api_shout")
    def shout(text: str) -> str:
        """Upper-cases text."""
        return text.upper()

    try:
        emulator.script(
            {"tool_calls": [{"name": "kimi_api_shout", "arguments": {"text": "hi"}}]},
            {"content": "{{tool_result:0}}"},
        )
        assert kimi_magic.ask("shout hi", tools="kimi_api_shout", **connection).text == "HI"
    finally:
        from kimi_magic.tools.registry import REGISTRY

        REGISTRY.remove("kimi_api_shout")


def test_python_runs_in_a_given_namespace_with_approve_auto(
    emulator: Emulator, connection: Any
) -> None:
    namespace: dict[str, Any] = {}
    emulator.script(
        {"tool_calls": [{"name": "run_python", "arguments": {"code": "x = 1"}}]},
        {"content": "{{tool_result:0}}"},
    )
    from kimi_magic.tools.api import resolve_tools

    tools = resolve_tools("python", namespace=namespace, approve="auto")
    answer = kimi_magic.ask("run", tools=list(tools.values()), **connection)
    assert answer.text.startswith("The code ran without output.")
    assert namespace == {"__builtins__": namespace["__builtins__"], "x": 1}
