"""`%%kimi --bg` in a real kernel: the cell returns at once, other cells run while the answer
streams into its own cell, two answers land each in their own cell, Stop works, `-o` is set
when the answer is done, `%kimi wait` blocks until then, and history keeps the asking order."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kernel_session import Execution, KernelSession, widget_of

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def kernel(emulator_kernel: KernelSession) -> KernelSession:
    return emulator_kernel


def display_id(run: Execution) -> str:
    """The display id of the answer's slot (the live view the cell displayed)."""
    for message in run.of_type("display_data"):
        found = message["content"].get("transient", {}).get("display_id")
        if found:
            return str(found)
    raise AssertionError("the cell displayed no live view")


def final_markdown(kernel: KernelSession, run: Execution) -> str:
    """The static markdown that replaced the cell's live view, once it came."""
    slot = display_id(run)

    def updated(messages: list[dict[str, Any]]) -> bool:
        return any(_is_final(m, slot) for m in messages)

    late = kernel.late_messages(run, updated)
    (final,) = [m for m in late if _is_final(m, slot)]
    return str(final["content"]["data"]["text/markdown"])


def _is_final(message: dict[str, Any], slot: str) -> bool:
    content = message["content"]
    return (
        message["msg_type"] == "update_display_data"
        and content.get("transient", {}).get("display_id") == slot
        and "text/markdown" in content.get("data", {})
    )


def test_two_background_answers_while_user_code_runs(
    kernel: KernelSession, emulator: Emulator
) -> None:
    emulator.script(
        {"content": "First answer, streamed slowly.", "chunk_chars": 3, "rate": 10},
        {"content": "Second answer.", "chunk_chars": 3, "rate": 10},
    )
    first = kernel.run("%%kimi --bg -o first_answer\nquestion one")
    second = kernel.run("%%kimi --bg\nquestion two")
    assert not first.errors and not second.errors
    assert first.ended - first.started < 2.0  # the cell returned while the answer streams

    # User code runs meanwhile and answers quickly.
    timings = []
    for _ in range(5):
        run = kernel.run("1 + 1")
        timings.append(run.ended - run.started)
        assert not run.errors
    assert sorted(timings)[2] < 0.5
    assert kernel.run("import kimi_magic; print(kimi_magic.wait(0))").stream_text() == "False\n"

    # Each answer replaces its own cell's live view with static markdown.
    assert "First answer, streamed slowly." in final_markdown(kernel, first)
    second_text = final_markdown(kernel, second)
    assert "Second answer." in second_text and "First answer" not in second_text

    waited = kernel.run("%kimi wait\nprint(first_answer)")
    assert waited.stream_text() == "First answer, streamed slowly.\n"
    history = kernel.run("%kimi history")
    shown = "".join(
        m["content"]["data"].get("text/plain", "") for m in history.of_type("display_data")
    )
    assert shown.index("question one") < shown.index("question two")


def test_stop_ends_a_background_answer(kernel: KernelSession, emulator: Emulator) -> None:
    emulator.script({"content": "word " * 400, "chunk_chars": 5, "rate": 20})
    run = kernel.run("%%kimi --bg --new -o stopped\nlong question")
    buttons = [
        m["content"]["comm_id"]
        for m in run.messages
        if (w := widget_of(m)) and w[0] == "ButtonModel"
    ]
    assert buttons, "the live view has a Stop button"
    time.sleep(1.0)
    kernel.click(buttons[0])
    text = final_markdown(kernel, run)
    assert "Interrupted" in text and "word" in text
    kernel.run("%kimi wait")
    # The partial answer is not stored as if it were whole.
    check = kernel.run("print('stopped' in dir())")
    assert check.stream_text() == "False\n"


def test_a_background_error_stays_in_its_cell(kernel: KernelSession, emulator: Emulator) -> None:
    emulator.script({"fault": {"type": "http_error", "status": 403, "code": 5035}})
    run = kernel.run("%%kimi --bg --new\nplease")
    assert not run.errors
    text = final_markdown(kernel, run)
    assert "Workers Paid plan" in text and "Traceback" not in text
