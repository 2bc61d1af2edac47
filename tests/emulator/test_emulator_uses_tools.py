"""With nothing scripted, the emulator plays a model that uses the offered tools (issue 16):
registered tools, the notebook tools, run_python with a plot, MCP tools and the agent, through
the magic and kimi_magic.ask, each request valid against the published schema."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kimi_magic
from kimi_magic.emulator import Emulator
from kimi_magic.tools.registry import REGISTRY, tool_from_function

DEMO = str(Path(__file__).parents[1] / "mcp_demo_server.py")
RATES = {"USD": 0.92, "GBP": 1.17}


def called(emulator: Emulator) -> list[list[tuple[str, dict[str, Any]]]]:
    """The tool calls the model asked for, round by round, as the next requests carry them."""
    last = emulator.requests[-1]["json"]["messages"]
    return [
        [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in m["tool_calls"]]
        for m in last
        if m["role"] == "assistant" and m.get("tool_calls")
    ]


@pytest.fixture
def euro_rate() -> Iterator[None]:
    def euro_rate(currency: str) -> float:
        """Euros for one unit of a currency.

        Args:
            currency: An ISO code such as USD, GBP or JPY.
        """
        return RATES[currency.upper()]

    REGISTRY.add(tool_from_function(euro_rate))
    yield
    REGISTRY.remove("euro_rate")


@pytest.mark.usefixtures("schema_checked", "euro_rate")
def test_a_registered_tool_is_called_in_parallel_and_the_answer_quotes_it(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    controls_shell.run_cell_magic(
        "kimi", "--tools euro_rate", "How many euros are 250 USD and 40 GBP?"
    )
    shown = capsys.readouterr().out
    assert called(emulator) == [
        [("euro_rate", {"currency": "USD"}), ("euro_rate", {"currency": "GBP"})]
    ]
    assert "0.92" in shown and "1.17" in shown and "Simulated answer from the tools" in shown
    assert len(emulator.requests) == 2


@pytest.mark.usefixtures("schema_checked")
def test_notebook_tools_list_then_describe_a_listed_variable(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pandas")
    controls_shell.run_cell("import pandas as pd\ncars = pd.DataFrame({'mpg': [21.0, 33.9]})")
    controls_shell.run_cell_magic("kimi", "--tools notebook", "Which of my variables is a table?")
    rounds = called(emulator)
    assert rounds[0] == [("list_variables", {})]
    assert rounds[1] == [
        ("describe_variable", {"name": "cars"}),
        ("dataframe_rows", {"name": "cars"}),
    ]
    shown = capsys.readouterr().out
    assert "33.9" in shown and "`describe_variable`" in shown


@pytest.mark.usefixtures("schema_checked")
def test_required_tool_choice_calls_a_tool(controls_shell: Any, emulator: Emulator) -> None:
    controls_shell.run_cell_magic("kimi", "--tools notebook --tool-choice required", "Hello")
    assert emulator.requests[0]["json"]["tool_choice"] == "required"
    assert called(emulator)[0] == [("list_variables", {})]


def test_tool_choice_none_gets_the_plain_answer(controls_shell: Any, emulator: Emulator) -> None:
    controls_shell.run_cell_magic("kimi", "--tools notebook --tool-choice none", "Hello")
    assert len(emulator.requests) == 1


@pytest.mark.usefixtures("schema_checked")
def test_run_python_draws_a_plot_the_model_sees(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    controls_shell.run_cell("import matplotlib\nmatplotlib.use('Agg')")
    controls_shell.run_cell_magic("kimi", "--tools python --approve auto", "Plot something")
    assert called(emulator)[0][0][0] == "run_python"
    last = emulator.requests[-1]["json"]["messages"]
    assert "the largest square is 25" in last[-2]["content"]
    assert any(p.get("type") == "image_url" for p in last[-1]["content"])
    assert "1 image" in capsys.readouterr().out


@pytest.mark.usefixtures("schema_checked")
def test_the_agent_lists_runs_code_and_describes_without_a_script(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    controls_shell.run_cell("import matplotlib\nmatplotlib.use('Agg')\nscores = [3, 1, 2]")
    controls_shell.run_cell_magic("kimi", "--agent --approve auto", "Look at `scores`")
    rounds = called(emulator)
    assert [name for name, _ in rounds[0]] == ["list_variables", "run_python"]
    assert rounds[1] == [("describe_variable", {"name": "scores"})]
    assert controls_shell.user_ns["ys"] == [1, 4, 9, 16, 25]  # the code ran in the notebook
    assert "Simulated answer from the tools" in capsys.readouterr().out


@pytest.mark.usefixtures("schema_checked")
def test_mcp_tools_by_their_namespaced_names(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("mcp")
    controls_shell.run_line_magic("kimi", f"mcp add demo -- {sys.executable} {DEMO}")
    controls_shell.run_cell_magic("kimi", "--tools mcp:demo", "Use add to sum 2 and 3")
    assert called(emulator) == [[("demo__add", {"a": 2, "b": 3})]]
    assert "5" in capsys.readouterr().out
    controls_shell.run_line_magic("unload_ext", "kimi_magic")  # stops the server
    controls_shell.run_line_magic("load_ext", "kimi_magic")


@pytest.mark.usefixtures("schema_checked")
def test_ask_with_a_function_tool(emulator: Emulator, emulator_connection: dict[str, Any]) -> None:
    def word_length(word: str) -> int:
        """How many letters a word has."""
        return len(word)

    answer = kimi_magic.ask("How long is `kangaroo`?", tools=[word_length], **emulator_connection)
    assert called(emulator) == [[("word_length", {"word": "kangaroo"})]]
    assert "8" in answer.text and "word_length" in answer.text


def test_a_scripted_reply_still_wins(controls_shell: Any, emulator: Emulator) -> None:
    emulator.script({"content": "Scripted, no tools."})
    controls_shell.run_cell_magic("kimi", "--tools notebook", "Hello")
    assert len(emulator.requests) == 1
