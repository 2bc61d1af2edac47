"""`%%kimi --bg` in a real kernel: the cell returns at once, other cells run while the answer
streams into its own cell, two answers land each in their own cell, Stop works, `-o` is set
when the answer is done, `%kimi wait` blocks until then, and history keeps the asking order."""

from __future__ import annotations

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
    # A quick answer (an error) may end before its cell goes idle: look there too.
    finished = [m for m in run.messages if _is_final(m, slot)]

    def updated(messages: list[dict[str, Any]]) -> bool:
        return bool(finished) or any(_is_final(m, slot) for m in messages)

    late = kernel.late_messages(run, updated)
    (final,) = finished + [m for m in late if _is_final(m, slot)]
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
    # The first answer pauses 8 s mid-stream (the emulator's stall), far longer than the
    # trivial cells below need even on a loaded machine: the checks compare event order.
    pause = {"type": "stall", "after_chunks": 2, "seconds": 8}
    emulator.script(
        {"content": "First answer, streamed slowly.", "chunk_chars": 3, "fault": pause},
        {"content": "Second answer.", "chunk_chars": 3, "rate": 10},
    )
    first = kernel.run("%%kimi --bg -o first_answer\nquestion one")
    second = kernel.run("%%kimi --bg\nquestion two")
    assert not first.errors and not second.errors
    # The cell returned while the answer streams: it went idle before its final markdown.
    assert not [m for m in first.messages if _is_final(m, display_id(first))]

    # User code runs meanwhile: its cell finishes before the first answer's final markdown,
    # and kimi_magic.wait(0) says the answers are still pending.
    meanwhile = kernel.run("import kimi_magic; print(1 + 1, kimi_magic.wait(0))")
    assert not meanwhile.errors
    assert meanwhile.stream_text() == "2 False\n"
    slot = display_id(first)
    assert not [m for m in kernel.late.get(first.msg_id, []) if _is_final(m, slot)]

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
    # Stop once the first words have reached the cell (the whole answer takes 20 s).
    kernel.late_messages(run, lambda late: any("word" in str(m["content"]) for m in late))
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


def test_a_background_answer_that_cannot_be_stored_says_so(
    kernel: KernelSession, emulator: Emulator
) -> None:
    emulator.script({"content": "Sure! Here it is: not JSON at all."})
    run = kernel.run("%%kimi --bg --new --json -o parsed\nthe numbers as JSON")
    assert not run.errors
    text = final_markdown(kernel, run)
    # In the answer's own slot: the answer, then why `parsed` was not set.
    assert "not JSON at all" in text and "`kimi_raw`" in text and "Traceback" not in text
    waited = kernel.run("%kimi wait")  # said again where the user waits
    said = str([m["content"] for m in waited.messages])
    assert "A background answer" in said and "`kimi_raw`" in said
    check = kernel.run("print('parsed' in dir())")
    assert check.stream_text() == "False\n"
