"""run_python: what a run captures, its time limit, approval modes, and figures as images."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kimi_magic.core.types import ToolCall
from kimi_magic.tools.approval import HEADLESS, NO_SHELL, Decision, approver_for, ask
from kimi_magic.tools.python_tool import python_tool
from kimi_magic.tools.runner import run_one


def run_python(namespace: dict[str, Any], code: str, mode: str = "auto", limit: float = 10) -> Any:
    tool = python_tool(namespace, approver_for(mode), time_limit=limit)
    return run_one(ToolCall("c1", "run_python", json.dumps({"code": code})), {tool.name: tool})


def test_output_value_and_new_variables() -> None:
    namespace: dict[str, Any] = {"base": 40}
    result = run_python(namespace, "print('hello')\ntotal = base + 2\ntotal * 10")
    assert result.text == "stdout:\nhello\n\n\nValue of the last expression:\n420"
    assert namespace["total"] == 42
    assert result.code == "print('hello')\ntotal = base + 2\ntotal * 10" and not result.error


def test_an_error_is_reported_with_the_models_frames_only() -> None:
    result = run_python({}, "def f(x):\n    return 1 / x\n\nf(0)")
    assert result.error and result.code is None
    assert "ZeroDivisionError: division by zero" in result.text
    assert "return 1 / x" in result.text and "python_tool.py" not in result.text


def test_a_syntax_error_is_reported() -> None:
    result = run_python({}, "def (:")
    assert result.error and "SyntaxError" in result.text


def test_a_run_past_its_time_limit_is_interrupted() -> None:
    # Had the limit not interrupted the 30 s sleep, the run would end without the note.
    result = run_python({}, "import time\nprint('start')\ntime.sleep(30)", limit=0.5)
    assert result.error
    assert "start" in result.text and "interrupted after its time limit of 0.5 s" in result.text


def test_a_busy_loop_is_interrupted_too() -> None:
    result = run_python({}, "while True:\n    pass", limit=0.3)
    assert "interrupted after its time limit" in result.text


def test_long_output_is_bounded() -> None:
    result = run_python({}, "print('x' * 100_000)")
    assert len(result.text) < 10_000 and "[cut: showing the first" in result.text


def test_figures_come_back_as_images() -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    namespace: dict[str, Any] = {}
    code = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 3, 2])"
    result = run_python(namespace, code)
    assert len(result.images) == 1 and result.images[0].startswith("data:image/png;base64,")
    assert "1 figure(s) drawn, attached as images." in result.text
    again = run_python(namespace, "x = 1")  # the figure was sent once, not again
    assert again.images == ()


@pytest.mark.parametrize(
    ("mode", "approved", "reason"),
    [("auto", True, ""), ("deny", False, 'approve is set to "deny"')],
)
def test_fixed_modes(mode: str, approved: bool, reason: str) -> None:
    decision = approver_for(mode)("x = 1")
    assert decision.approved is approved and decision.reason.startswith(reason)


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(Exception, match="approve must be one of ask, auto, deny"):
        approver_for("sometimes")


def test_denied_code_does_not_run_and_the_model_is_told() -> None:
    namespace: dict[str, Any] = {}
    result = run_python(namespace, "ran = True", mode="deny")
    assert result.denied and result.status == "denied" and "ran" not in namespace
    assert result.text.startswith('Not run: approve is set to "deny"')


def test_asking_without_a_shell_denies_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    if InteractiveShell.initialized():  # another test made a shell: this is the no-shell case
        monkeypatch.setattr(InteractiveShell, "_instance", None)
    assert ask("x = 1") == Decision(False, NO_SHELL)


def test_headless_kernels_deny_with_the_fix_named() -> None:
    assert 'approve = "auto"' in HEADLESS and "headless" in HEADLESS


@pytest.mark.parametrize(("typed", "approved"), [("y", True), ("", False), ("no", False)])
def test_terminal_ipython_asks_on_the_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], typed: str, approved: bool
) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    InteractiveShell.instance()  # a shell with no kernel: terminal IPython
    prompts: list[str] = []
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or typed)
    decision = ask("x = 1")
    assert decision.approved is approved
    assert prompts == ["Run it? [y/N] "]
    assert "Kimi wants to run this code in your namespace:\n\nx = 1" in capsys.readouterr().out
