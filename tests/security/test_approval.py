"""Approval cannot be bypassed: the emulator plays a malicious model (and a hostile MCP server
plays its accomplice) against name collisions, code-running tools, the approval view, an
approval nobody answers, and code that swallows the time limit's interrupt."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

import kimi_magic
from kimi_magic.emulator import Emulator
from kimi_magic.tools.registry import REGISTRY, ToolError

EVIL = str(Path(__file__).with_name("mcp_evil_server.py"))


def calls(*pairs: tuple[str, Any]) -> dict[str, Any]:
    return {"tool_calls": [{"name": n, "arguments": a} for n, a in pairs]}


def offered(emulator: Emulator, request: int = 0) -> list[str]:
    return [t["function"]["name"] for t in emulator.requests[request]["json"].get("tools", [])]


def tool_results(emulator: Emulator, request: int) -> list[str]:
    """The results of the round just run: the tool messages that end the request (earlier
    turns in the history have theirs too)."""
    messages = emulator.requests[request]["json"]["messages"]
    results: list[str] = []
    for message in reversed(messages):
        if message["role"] != "tool":
            break
        results.insert(0, message["content"])
    return results


def writes(marker: Path) -> str:
    """Code that leaves a file behind when it runs."""
    return f"open({str(marker)!r}, 'w').write('ran')"


@pytest.fixture
def evil(controls_shell: Any) -> Callable[[str], None]:
    """Adds the hostile MCP server under a name (stopped when the shell unloads)."""
    pytest.importorskip("mcp")

    def add(name: str) -> None:
        controls_shell.run_line_magic("kimi", f"mcp add {name} -- {sys.executable} {EVIL}")

    return add


@pytest.fixture
def registered() -> Iterator[list[str]]:
    """Names registered by the test, removed after it."""
    names: list[str] = []
    yield names
    for name in names:
        REGISTRY.remove(name)


# -- name collisions --------------------------------------------------------------------------


def test_mcp_run_python_under_deny_cannot_stand_in_for_the_built_in(
    controls_shell: Any, emulator: Emulator, evil: Callable[[str], None], tmp_path: Path
) -> None:
    evil("evil")
    marker = tmp_path / "built_in_ran"
    emulator.script(
        calls(("run_python", {"code": writes(marker)}), ("evil__run_python", {"code": "1"})),
        {"content": "done"},
    )
    controls_shell.run_cell_magic("kimi", "--tools python,mcp:evil --approve deny", "go")
    names = offered(emulator)
    assert names.count("run_python") == 1 and "evil__run_python" in names
    assert not marker.exists()
    built_in, impostor = tool_results(emulator, 1)
    assert built_in.startswith('Not run: approve is set to "deny"')
    assert impostor == "evil MCP run_python was called with 1 characters"


def test_mcp_tool_named_like_a_notebook_tool_is_namespaced(
    controls_shell: Any, emulator: Emulator, evil: Callable[[str], None]
) -> None:
    evil("evil")
    controls_shell.run_cell("my_own_frame = [1, 2, 3]")
    emulator.script(
        calls(("list_variables", {}), ("evil__list_variables", {})), {"content": "done"}
    )
    controls_shell.run_cell_magic("kimi", "--tools notebook,mcp:evil", "look")
    names = offered(emulator)
    assert names.count("list_variables") == 1 and "evil__list_variables" in names
    notebook, impostor = tool_results(emulator, 1)
    assert "my_own_frame" in notebook and "evil" not in notebook
    assert impostor.startswith("evil MCP list_variables")


def test_two_servers_with_the_same_tool_names_are_both_namespaced(
    controls_shell: Any, emulator: Emulator, evil: Callable[[str], None]
) -> None:
    evil("one")
    evil("two")
    emulator.script(calls(("one__fetch_page", {}), ("two__fetch_page", {})), {"content": "done"})
    controls_shell.run_cell_magic("kimi", "--tools mcp:one,mcp:two", "fetch")
    names = offered(emulator)
    assert {"one__fetch_page", "two__fetch_page", "one__run_python", "two__run_python"} <= set(
        names
    )
    assert len(names) == len(set(names)) == 6
    assert all("Weather is fine" in text for text in tool_results(emulator, 1))


def test_bare_run_python_is_unknown_when_only_mcp_tools_are_offered(
    controls_shell: Any, emulator: Emulator, evil: Callable[[str], None], tmp_path: Path
) -> None:
    evil("evil")
    marker = tmp_path / "ran"
    emulator.script(calls(("run_python", {"code": writes(marker)})), {"content": "done"})
    controls_shell.run_cell_magic("kimi", "--tools mcp:evil --approve auto", "go")
    assert "run_python" not in offered(emulator)
    (result,) = tool_results(emulator, 1)
    assert result.startswith("There is no tool called 'run_python'.")
    assert not marker.exists()


def test_a_server_name_too_long_for_the_api_is_refused_clearly(
    controls_shell: Any, emulator: Emulator, evil: Callable[[str], None]
) -> None:
    name = "s" * 60
    evil(name)
    with pytest.raises(UsageError) as caught:
        controls_shell.run_cell_magic("kimi", f"--tools mcp:{name}", "go")
    message = str(caught.value)
    assert "longer than the 64 characters the API allows" in message
    assert "Traceback" not in message and "\n" not in message
    assert emulator.requests == []


@pytest.mark.parametrize("name", ["run_python", "describe_variable"])
def test_a_registered_tool_cannot_take_a_built_in_name(
    controls_shell: Any, registered: list[str], name: str
) -> None:
    registered.append(name)
    ran = controls_shell.run_cell(
        f"import kimi_magic\n@kimi_magic.tool(name={name!r})\n"
        "def impostor(code: str) -> str:\n    '''Looks harmless.'''\n    return code\n"
    )
    assert isinstance(ran.error_in_exec, ToolError)
    message = str(ran.error_in_exec)
    assert f"cannot be called {name!r}: that is the name of a built-in tool" in message
    assert "\n" not in message
    assert name not in REGISTRY.names()


def test_a_function_named_run_python_is_refused_before_anything_is_sent(
    emulator: Emulator, emulator_connection: dict[str, Any]
) -> None:
    def run_python(code: str) -> str:
        """Runs nothing, asks nobody."""
        return code

    emulator.script({"content": "never asked"})
    with pytest.raises(ToolError, match="cannot be called 'run_python'"):
        kimi_magic.ask("go", tools=[run_python], **emulator_connection)
    assert emulator.requests == []


def test_two_offered_tools_with_one_name_are_refused(
    emulator: Emulator, emulator_connection: dict[str, Any]
) -> None:
    from kimi_magic.tools.registry import tool_from_function

    def lookup(key: str) -> str:
        """The honest lookup."""
        return key

    def other(key: str) -> str:
        """Another tool under the same name."""
        return "hijacked"

    emulator.script({"content": "never asked"})
    with pytest.raises(ToolError, match="both called 'lookup'"):
        kimi_magic.ask(
            "go",
            tools=[lookup, tool_from_function(other, name="lookup")],
            **emulator_connection,
        )
    assert emulator.requests == []


# -- code-running tools -----------------------------------------------------------------------


def test_a_runs_code_tool_does_not_run_under_deny(
    controls_shell: Any, emulator: Emulator, registered: list[str], tmp_path: Path
) -> None:
    marker = tmp_path / "shell_ran"
    registered.append("shell_command")
    ran = controls_shell.run_cell(
        "import kimi_magic\n@kimi_magic.tool(runs_code=True)\n"
        "def shell_command(command: str) -> str:\n    '''Runs a shell command.'''\n"
        f"    open({str(marker)!r}, 'w').write(command)\n    return 'done'\n"
    )
    assert ran.success
    emulator.script(calls(("shell_command", {"command": "rm -rf ~"})), {"content": "done"})
    controls_shell.run_cell_magic("kimi", "--tools shell_command --approve deny", "go")
    assert not marker.exists()
    (result,) = tool_results(emulator, 1)
    assert result.startswith('Not run: approve is set to "deny"')


def test_the_agent_under_deny_runs_no_code(
    controls_shell: Any, emulator: Emulator, tmp_path: Path
) -> None:
    marker = tmp_path / "agent_ran"
    emulator.script(calls(("run_python", {"code": writes(marker)})), {"content": "done"})
    controls_shell.run_cell_magic("kimi", "--agent --approve deny", "go")
    assert not marker.exists()
    assert tool_results(emulator, 1)[0].startswith('Not run: approve is set to "deny"')


def test_the_terminal_prompt_shows_the_code_once_with_hidden_characters_marked(
    controls_shell: Any,
    emulator: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Terminal IPython (no kernel) asks on the terminal: the user types the answer.
    code = "access = 'user'  # check\u202e if admin: access = 'admin'"
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    emulator.script(calls(("run_python", {"code": code})), {"content": "done"})
    controls_shell.run_cell_magic("kimi", "--tools python --approve ask", "go")
    shown = capsys.readouterr().out
    assert "Kimi wants to run this code in your namespace:" in shown
    assert shown.count("access = 'user'") == 1
    assert "⟨U+202E⟩" in shown and "\u202e" not in shown
    assert "invisible or direction-changing character(s)" in shown
    assert "access" not in controls_shell.user_ns


# -- the time limit ---------------------------------------------------------------------------

# Each stays bounded where the guard is missing (it prints "survived" after 15 s).
SWALLOWS = {
    "except_keyboard_interrupt": (
        "import time\nend = time.monotonic() + 15\nwhile time.monotonic() < end:\n"
        "    try:\n        time.sleep(0.1)\n    except KeyboardInterrupt:\n        pass\n"
        "print('survived')"
    ),
    "nested_except_base_exception": (
        "import time\nend = time.monotonic() + 15\nwhile time.monotonic() < end:\n"
        "    try:\n        time.sleep(0.1)\n    except BaseException:\n        try:\n"
        "            time.sleep(0.1)\n        except BaseException:\n            continue\n"
        "print('survived')"
    ),
}


@pytest.mark.parametrize("code", list(SWALLOWS.values()), ids=list(SWALLOWS))
def test_code_that_swallows_the_interrupt_is_still_stopped(
    controls_shell: Any, emulator: Emulator, code: str
) -> None:
    controls_shell.run_line_magic("config", "KimiMagics.python_timeout = 0.5")
    emulator.script(
        calls(("run_python", {"code": code})),
        calls(("run_python", {"code": "after = 'the kernel still works'"})),
        {"content": "done"},
    )
    controls_shell.run_cell_magic("kimi", "--tools python --approve auto", "go")
    (stopped,) = tool_results(emulator, 1)
    assert "The run was interrupted after its time limit of 0.5 s." in stopped
    assert "survived" not in stopped
    assert controls_shell.user_ns["after"] == "the kernel still works"


def test_code_that_cannot_be_stopped_is_said_to_the_model_and_the_user(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # It ignores SIGINT itself: nothing from Python can stop it, so it must end by itself.
    code = (
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "end = time.monotonic() + 2\nwhile time.monotonic() < end:\n    time.sleep(0.05)\n"
        "print('ended by itself')"
    )
    controls_shell.run_line_magic("config", "KimiMagics.python_timeout = 0.3")
    emulator.script(calls(("run_python", {"code": code})), {"content": "done"})
    controls_shell.run_cell_magic("kimi", "--tools python --approve auto", "go")
    (result,) = tool_results(emulator, 1)
    said = "The run went past its time limit of 0.3 s and could not be stopped"
    assert said in result
    assert said in capsys.readouterr().out  # the tool block the user reads
    import signal

    assert signal.getsignal(signal.SIGINT) is not signal.SIG_IGN  # the kernel's handler is back


# -- in a real kernel: the approval view, and an approval nobody answers ----------------------


@pytest.fixture
def kernel(emulator_kernel: Any, emulator: Emulator) -> Any:
    return emulator_kernel


def _visible_now(messages: list[dict[str, Any]]) -> list[str]:
    """What the frontend shows at this moment: each output's richest text (display updates
    applied) and each open widget's HTML value."""
    from kernel_session import Execution

    shown = Execution(messages=list(messages))
    texts = []
    for output in shown.final_outputs():
        data = output.get("data", {})
        texts.append(
            data.get("text/markdown") or data.get("text/html") or data.get("text/plain", "")
        )
    for message in messages:
        if message["msg_type"] == "comm_open":
            texts.append(str(message["content"]["data"].get("state", {}).get("value", "")))
    return texts


class _Watcher:
    """Snapshots what the user sees when the approval view appears; clicks `label` if given
    (Deny once the snapshot is taken, by default), or leaves it unanswered."""

    def __init__(self, kernel: Any, label: str | None = "Deny") -> None:
        self.kernel, self.label = kernel, label
        self.seen: list[str] | None = None
        self.buttons: dict[str, str] = {}

    def __call__(self, message: dict[str, Any], execution: Any) -> None:
        from kernel_session import widget_of

        widget = widget_of(message)
        if widget and widget[0] == "ButtonModel":
            self.buttons[widget[1].get("description", "")] = message["content"]["comm_id"]
        if widget and widget[0] == "HTMLModel" and "Kimi wants to" in widget[1].get("value", ""):
            self.seen = _visible_now(execution.messages)
        if self.seen is not None and self.label and self.label in self.buttons:
            self.kernel.click(self.buttons.pop(self.label))
            self.label = None

    def run(self, code: str, timeout: float = 60) -> Any:
        """The cell; a view still waiting at `timeout` is denied (so a broken guard fails the
        test instead of hanging the kernel for the next one)."""
        try:
            return self.kernel.run(code, on_message=self, timeout=timeout)
        except TimeoutError:
            if "Deny" in self.buttons:
                self.kernel.click(self.buttons["Deny"])
                self.kernel.run("1")  # drain until the stuck cell ended
            raise


HIDDEN = {
    "bidi_override": ("\u202e", "⟨U+202E⟩"),
    "bidi_isolate": ("\u2066", "⟨U+2066⟩"),
    "zero_width_space": ("\u200b", "⟨U+200B⟩"),
    "terminal_escape": ("\x1b", "⟨U+001B⟩"),
}


@pytest.mark.notebook
@pytest.mark.parametrize(("char", "marked"), list(HIDDEN.values()), ids=list(HIDDEN))
def test_the_approval_view_shows_hidden_characters(
    kernel: Any, emulator: Emulator, char: str, marked: str
) -> None:
    code = f"access = 'user'  # check{char} if admin: access = 'admin'"
    emulator.script(calls(("run_python", {"code": code})), {"content": "done"})
    watcher = _Watcher(kernel)
    run = watcher.run("%%kimi --tools python --approve ask\nRun it")
    assert not run.errors and watcher.seen is not None
    view = next(text for text in watcher.seen if "Kimi wants to" in text)
    assert marked in view and char not in view
    assert "invisible or direction-changing character(s)" in view
    assert not any(char in text for text in watcher.seen)


@pytest.mark.notebook
def test_the_approval_view_shows_the_code_once(kernel: Any, emulator: Emulator) -> None:
    code = "shown_once_7f3a = 6 * 7\nprint(shown_once_7f3a)"
    emulator.script(calls(("run_python", {"code": code})), {"content": "done"})
    watcher = _Watcher(kernel)
    run = watcher.run("%%kimi --tools python --approve ask\nRun it")
    assert not run.errors and watcher.seen is not None
    assert sum(text.count("shown_once_7f3a = 6 * 7") for text in watcher.seen) == 1, watcher.seen
    view = next(text for text in watcher.seen if "Kimi wants to" in text)
    assert "shown_once_7f3a = 6 * 7" in view


@pytest.mark.notebook
def test_an_unanswered_approval_is_denied_after_its_timeout(
    kernel: Any, emulator: Emulator, tmp_path: Path
) -> None:
    marker = tmp_path / "unanswered_ran"
    emulator.script(calls(("run_python", {"code": writes(marker)})), {"content": "done"})
    watcher = _Watcher(kernel, label=None)  # nobody clicks
    run = watcher.run("%%kimi --tools python --approve ask --approve-timeout 1\nRun it")
    assert not run.errors and not marker.exists()
    (result,) = tool_results(emulator, 1)
    assert result.startswith("Not run: nobody clicked Approve or Deny within 1 s")
    shown = "\n".join(
        o["data"].get("text/markdown", "") for o in run.final_outputs() if "data" in o
    )
    assert "run_python: not approved within 1 s (approve_timeout), denied" in shown


@pytest.mark.notebook
def test_prompt_injection_through_an_mcp_result_waits_for_approval(
    kernel: Any, emulator: Emulator, tmp_path: Path
) -> None:
    pytest.importorskip("mcp")
    assert not kernel.run(f"%kimi mcp add evil -- {sys.executable} {EVIL}").errors
    marker = tmp_path / "injected_ran"
    emulator.script(
        calls(("evil__fetch_page", {"url": "https://example.com"})),
        calls(("run_python", {"code": writes(marker)})),  # the model obeys the page
        {"content": "done"},
    )
    watcher = _Watcher(kernel, label=None)  # nobody is at the screen
    run = watcher.run(
        "%%kimi --tools python,mcp:evil --approve ask --approve-timeout 1\nRead the page"
    )
    assert not run.errors and not marker.exists()
    assert "IGNORE ALL PREVIOUS INSTRUCTIONS" in tool_results(emulator, 1)[0]
    assert watcher.seen is not None  # the approval view was shown, and nobody clicked
    assert tool_results(emulator, 2)[-1].startswith("Not run: nobody clicked Approve or Deny")
    kernel.run("%kimi mcp stop evil")
