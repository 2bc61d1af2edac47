"""Tools in a real kernel, as a frontend sees it: a two-round loop with parallel calls and a
raising tool; run_python's Approve and Deny buttons (a click is handled while the cell runs);
a headless run (no allow_stdin, like nbclient) denied, saying so; an interrupt mid-tool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kernel_session import Execution, KernelSession, widget_of
from waiting import HANG_GUARD_S, wait_until

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.notebook

ASK = "%%kimi --tools python --approve ask\nRun it"


@pytest.fixture
def kernel(emulator_kernel: KernelSession, emulator: Emulator) -> KernelSession:
    """The shared real kernel (conftest's emulator_kernel), with an emptied emulator."""
    return emulator_kernel


def clicking(kernel: KernelSession, label: str) -> Any:
    """An on_message hook that clicks the button called `label` once it appears."""
    clicked: list[str] = []

    def on_message(message: dict[str, Any], execution: Execution) -> None:
        widget = widget_of(message)
        button = widget and widget[0] == "ButtonModel" and widget[1].get("description") == label
        if button and not clicked:
            clicked.append(message["content"]["comm_id"])
            kernel.click(clicked[0])

    return on_message, clicked


def markdown(run: Execution) -> str:
    return "\n".join(o["data"].get("text/markdown", "") for o in run.final_outputs() if "data" in o)


def script_run(emulator: Emulator, code: str) -> None:
    emulator.script(
        {"tool_calls": [{"name": "run_python", "arguments": {"code": code}}]},
        {"content": "Result: {{tool_result:0}}"},
    )


def test_approve_runs_the_code_and_the_answer_goes_on(
    kernel: KernelSession, emulator: Emulator
) -> None:
    script_run(emulator, "approved_value = 6 * 7\nprint(approved_value)")
    hook, clicked = clicking(kernel, "Approve")
    run = kernel.run(ASK, on_message=hook, timeout=60)
    assert clicked and not run.errors, run.stream_text("stderr")
    shown = markdown(run)
    assert "Result: stdout:\n42" in shown
    assert "*run_python: approved*" in shown and "approved_value = 6 * 7" in shown
    check = kernel.run("print(approved_value)")
    assert check.stream_text() == "42\n"


def test_deny_reaches_the_model(kernel: KernelSession, emulator: Emulator) -> None:
    script_run(emulator, "denied_value = 1")
    hook, clicked = clicking(kernel, "Deny")
    run = kernel.run(ASK, on_message=hook, timeout=60)
    assert clicked and not run.errors
    assert "Result: Not run: The user denied running this code." in markdown(run)
    assert "*run_python: denied*" in markdown(run)
    assert (
        kernel.run("'denied_value' in dir()").of_type("execute_result")[0]["content"]["data"][
            "text/plain"
        ]
        == "False"
    )


def test_a_headless_run_is_denied_saying_so(kernel: KernelSession, emulator: Emulator) -> None:
    script_run(emulator, "headless_value = 1")
    msg_id = kernel.client.execute(ASK, allow_stdin=False)  # what nbclient sends
    texts = []
    while True:
        message = kernel.client.get_iopub_msg(timeout=60)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        data = message["content"].get("data", {})
        texts.append(data.get("text/markdown", ""))
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            break
    kernel.client.get_shell_msg(timeout=10)
    joined = "\n".join(texts)
    assert "Nobody can click Approve here (a headless run" in joined
    assert emulator.requests[-1]["json"]["messages"][-1]["content"].startswith("Not run:")


def test_an_interrupt_while_code_runs_keeps_the_round(
    kernel: KernelSession, emulator: Emulator, tmp_path: Path
) -> None:
    import os
    import signal
    import threading

    started = tmp_path / "code-started"
    code = f"open({str(started)!r}, 'w').close()\nimport time\ntime.sleep(30)"
    emulator.script({"tool_calls": [{"name": "run_python", "arguments": {"code": code}}]})

    # The kernel's interrupt is SIGINT, sent once the model's code is running; from a thread
    # with os.kill, since the kernel manager's own interrupt_kernel() would leave an event loop
    # behind in that thread.
    def interrupt_once_the_code_runs() -> None:
        wait_until(started.exists, "the model's code to start")
        os.kill(kernel.pid, signal.SIGINT)

    interrupter = threading.Thread(target=interrupt_once_the_code_runs)
    interrupter.start()
    run = kernel.run("%%kimi --tools python --approve auto\nSleep", timeout=HANG_GUARD_S)
    interrupter.join()
    # Had the interrupt not cut the 30 s sleep, the code would have finished and no
    # "Interrupted" would show.
    said = run.stream_text("stderr")
    assert "UsageError: Interrupted: the answer so far is kept" in said
    assert "Traceback" not in said
    history = kernel.run("%kimi history")
    assert "asked for run_python; not run: the turn stopped first" in json_text(history)
    emulator.script({"content": "fine"})
    assert not kernel.run("%kimi and now?").errors  # the history is still valid to send
    assert emulator.requests[-1]["json"]["messages"][-1]["content"] == "and now?"


def json_text(run: Execution) -> str:
    import json

    return json.dumps([m["content"] for m in run.messages])


SETUP_TOOLS = '''
import kimi_magic

@kimi_magic.tool
def double(x: int) -> int:
    """Twice x."""
    return 2 * x

@kimi_magic.tool
def broken(x: int) -> int:
    """Always fails."""
    raise RuntimeError(f"cannot handle {x}")
'''


def test_two_rounds_with_parallel_calls_and_a_raising_tool(
    kernel: KernelSession, emulator: Emulator
) -> None:
    assert not kernel.run(SETUP_TOOLS).errors
    emulator.script(
        {
            "tool_calls": [
                {"name": "double", "arguments": {"x": 4}},
                {"id": "call_b", "name": "broken", "arguments": '{"x": 5}'},
            ]
        },
        {"tool_calls": [{"name": "double", "arguments": '{"x": {{tool_result:0}}}'}]},
        {"content": "Doubled twice: {{tool_result:0}}."},
    )
    run = kernel.run("%%kimi --tools double,broken\nDouble 4 twice; try broken on 5.")
    assert not run.errors, run.stream_text("stderr")
    shown = markdown(run)
    assert "Doubled twice: 16." in shown
    assert "✗ tool <code>broken</code> · error" in shown
    second = emulator.requests[1]["json"]["messages"]
    assert second[-1] == {
        "role": "tool",
        "content": "The tool broken raised RuntimeError: cannot handle 5",
        "tool_call_id": "call_b",
    }
    assert len(emulator.requests) == 3
