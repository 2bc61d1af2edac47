"""`%%kimi --tools`, `--agent` and `%kimi mcp` in a real IPython shell against the emulator:
what the user sees, what the model was sent, and what the namespace holds afterwards."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from kimi_magic.emulator import Emulator
from kimi_magic.magic.tool_turn import mcp_servers
from kimi_magic.tools.registry import REGISTRY, tool_from_function

DEMO = str(Path(__file__).with_name("mcp_demo_server.py"))


def calls(*pairs: tuple[str, Any]) -> dict[str, Any]:
    return {"tool_calls": [{"name": n, "arguments": a} for n, a in pairs]}


@pytest.fixture
def add_tool() -> Iterator[None]:
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    REGISTRY.add(tool_from_function(add))
    yield
    REGISTRY.remove("add")


@pytest.mark.usefixtures("schema_checked", "add_tool")
def test_a_registered_tool_in_a_cell(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script(
        calls(("add", {"a": 20, "b": 22}), ("add", {"a": 1, "b": 1})),
        {"content": "Results: {{tool_results}}"},
        {"content": "You asked about sums."},
    )
    controls_shell.run_cell_magic("kimi", "--tools add", "Add 20+22 and 1+1")
    shown = capsys.readouterr().out
    assert "[tool add: ok" in shown and "Results: 42\n2" in shown
    controls_shell.run_line_magic("kimi", "What did I ask?")  # the rounds are in the history
    roles = [m["role"] for m in emulator.requests[-1]["json"]["messages"]]
    assert roles == ["user", "assistant", "tool", "tool", "assistant", "user"]
    assert "tools" not in emulator.requests[-1]["json"]  # offered to that question only


def test_an_unknown_tool_is_refused_before_anything_is_sent(
    controls_shell: Any, emulator: Emulator
) -> None:
    with pytest.raises(UsageError, match="There is no tool called 'ad'"):
        controls_shell.run_cell_magic("kimi", "--tools ad", "sum")
    assert emulator.requests == []


@pytest.mark.usefixtures("schema_checked")
def test_the_notebook_tools_cannot_change_the_namespace(
    controls_shell: Any, emulator: Emulator
) -> None:
    controls_shell.run_cell("import pandas as pd\ndf = pd.DataFrame({'x': [1, 2, 3]})\nsafe = 1")
    attempts = [
        ("dataframe_rows", {"name": "df", "query": "x = 0"}),
        ("dataframe_rows", {"name": "df", "query": "@__import__('os').getcwd()"}),
        ("describe_variable", {"name": "safe; safe = 2"}),
        ("describe_variable", {"name": "df.drop(columns='x', inplace=True)"}),
        ("run_python", {"code": "safe = 3"}),  # not offered: --tools notebook only
    ]
    emulator.script(calls(*attempts), {"content": "{{tool_results}}"})
    before = dict(controls_shell.user_ns)
    controls_shell.run_cell_magic("kimi", "--tools notebook", "Change my data")
    assert controls_shell.user_ns["safe"] == 1
    assert controls_shell.user_ns["df"]["x"].tolist() == [1, 2, 3]
    assert set(controls_shell.user_ns) - set(before) <= {"_", "__", "___"} | {
        n for n in controls_shell.user_ns if n.startswith("_")
    }
    results = [
        m["content"] for m in emulator.requests[1]["json"]["messages"] if m["role"] == "tool"
    ]
    assert "There is no tool called 'run_python'" in results[-1]


@pytest.mark.usefixtures("schema_checked")
def test_the_agent_runs_code_sees_the_figure_and_offers_code_that_reproduces_it(
    controls_shell: Any, emulator: Emulator, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    controls_shell.run_cell("import matplotlib\nmatplotlib.use('Agg')")
    step1 = "import numpy as np\nvalues = np.arange(10) ** 2\ntotal = int(values.sum())\ntotal"
    step2 = "import matplotlib.pyplot as plt\nplt.plot(values)\nplt.title('squares')"
    broken = "print(undefined_name)"
    emulator.script(
        calls(("list_variables", {})),
        calls(("run_python", {"code": step1})),
        calls(("run_python", {"code": broken})),
        calls(("run_python", {"code": step2})),
        {"content": "The total is {{tool_result:0}}; I saw {{images}} image."},
    )
    controls_shell.run_cell_magic("kimi", "--agent --approve auto", "Sum the squares and plot them")
    assert controls_shell.user_ns["total"] == 285
    assert emulator.requests[-1]["json"]["messages"][-1]["content"][1]["type"] == "image_url"
    system = emulator.requests[0]["json"]["messages"][0]
    assert system["role"] == "system" and "Jupyter notebook" in system["content"]
    names = {t["function"]["name"] for t in emulator.requests[0]["json"]["tools"]}
    assert {"run_python", "list_variables", "dataframe_rows", "cell"} <= names
    offered = controls_shell.rl_next_input
    assert step1 in offered and step2 in offered and broken not in offered
    # The offered code, run alone in a fresh kernel, reproduces the result and the plot.
    from kernel_session import KernelSession

    with KernelSession() as kernel:
        run = kernel.run(offered + "\nprint('TOTAL', total)")
    assert not run.errors, run.errors
    assert "TOTAL 285" in run.stream_text()
    assert any("image/png" in m["content"]["data"] for m in run.of_type("display_data"))


def test_the_round_cap_is_said(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script(*[calls(("list_variables", {})) for _ in range(3)])
    controls_shell.run_cell_magic("kimi", "--tools notebook --max-rounds 2", "loop")
    assert "Stopped after 2 rounds (the cap, tool_max_rounds)" in capsys.readouterr().out
    assert len(emulator.requests) == 2


def test_python_is_denied_where_nobody_can_click(controls_shell: Any, emulator: Emulator) -> None:
    emulator.script(calls(("run_python", {"code": "ran = 1"})), {"content": "{{tool_result:0}}"})
    controls_shell.run_cell_magic("kimi", "--tools python --approve deny", "run it")
    assert "ran" not in controls_shell.user_ns
    assert emulator.requests[1]["json"]["messages"][-1]["content"].startswith("Not run:")


@pytest.mark.usefixtures("schema_checked")
def test_mcp_tools_from_a_real_server_with_an_image_result(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("mcp")
    controls_shell.run_line_magic("kimi", f"mcp add demo -- {sys.executable} {DEMO}")
    controls_shell.run_line_magic("kimi", "mcp")  # a listing starts nothing
    assert "not running: %kimi mcp tools demo starts it" in capsys.readouterr().out
    controls_shell.run_line_magic("kimi", "mcp tools demo")
    listed = capsys.readouterr().out
    assert "Starting MCP server demo to list its tools." in listed
    assert "add: Add two integers." in listed and "red_square" in listed
    emulator.script(
        calls(("demo__add", {"a": 2, "b": 3}), ("demo__red_square", {})),
        {"content": "sum {{tool_result:0}}, images {{images}}"},
    )
    controls_shell.run_cell_magic("kimi", "--tools mcp:demo", "use the server")
    assert "sum 5, images 1" in capsys.readouterr().out
    user = emulator.requests[1]["json"]["messages"][-1]
    assert user["role"] == "user" and user["content"][1]["image_url"]["url"].startswith(
        "data:image/png;base64,"
    )
    magics = controls_shell.magics_manager.registry["KimiMagics"]
    servers = mcp_servers(magics)  # the session's: %unload_ext closes the session
    assert servers.running("demo")
    controls_shell.run_line_magic("unload_ext", "kimi_magic")  # stops the servers
    assert not servers.running("demo")
    controls_shell.run_line_magic("load_ext", "kimi_magic")


def test_an_mcp_server_that_fails_is_one_clear_message(
    controls_shell: Any, emulator: Emulator
) -> None:
    pytest.importorskip("mcp")
    controls_shell.run_line_magic("kimi", f"mcp add broken -- {sys.executable} {DEMO} --crash")
    with pytest.raises(UsageError, match="The MCP server 'broken' could not start") as caught:
        controls_shell.run_cell_magic("kimi", "--tools mcp:broken", "use it")
    assert "Traceback" not in str(caught.value)
    assert emulator.requests == []


def test_tools_from_the_config_file(
    controls_shell: Any, emulator: Emulator, tmp_path: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.kimi_magic]\ndefault_tools = "notebook"\n')
    emulator.script({"content": "plain"})
    controls_shell.run_line_magic("kimi", "hello")
    names = [t["function"]["name"] for t in emulator.requests[0]["json"]["tools"]]
    assert "list_variables" in names


@pytest.mark.usefixtures("add_tool")
def test_history_lists_the_tool_rounds(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script(calls(("add", {"a": 1, "b": 2})), {"content": "It is 3."})
    controls_shell.run_cell_magic("kimi", "--tools add", "1+2?")
    capsys.readouterr()
    controls_shell.run_line_magic("kimi", "history")
    shown = capsys.readouterr().out
    assert '*assistant:* calls add({"a": 1, "b": 2})' in shown
    assert "*tool add:* 3" in shown and "Kimi: It is 3." in shown


def test_the_agent_cost_cap_stops_the_cell(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    controls_shell.run_line_magic("config", "KimiMagics.agent_max_cost = 0.0000001")
    emulator.script(calls(("list_variables", {})), calls(("list_variables", {})))
    controls_shell.run_cell_magic("kimi", "--agent --approve deny", "spend")
    assert "past this turn's cost cap" in capsys.readouterr().out
    assert len(emulator.requests) == 1


@pytest.mark.usefixtures("add_tool")
def test_a_dry_run_shows_the_tools_and_sends_nothing(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    controls_shell.run_cell_magic("kimi", "--tools add --dry-run", "sum")
    shown = capsys.readouterr().out
    assert '"tools"' in shown and '"name": "add"' in shown
    assert emulator.requests == []
