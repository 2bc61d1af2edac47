"""The live view in a real kernel: what the frontend receives while an answer streams and after.

Each test drives a real ipykernel over ZMQ (as JupyterLab does) against the emulator and reads
the messages the kernel publishes: widget updates, the display slot, the final markdown.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from kernel_session import Execution, KernelSession, widget_of
from waiting import HANG_GUARD_S, wait_until

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.notebook

LONG_ANSWER = "\n\n".join(
    [f"Paragraph {i}: " + "words that keep coming " * 20 for i in range(24)]
    + ["```python\n" + "\n".join(f"print({i})" for i in range(40)) + "\n```"]
    + ["| a | b |\n|---|---|\n" + "\n".join(f"| {i} | {i * i} |" for i in range(20))]
)


@pytest.fixture(scope="module")
def kernel(emulator_kernel: KernelSession) -> KernelSession:
    return emulator_kernel


def final_markdown(execution: Execution) -> tuple[str, dict[str, Any]]:
    outputs = [o for o in execution.final_outputs() if "text/markdown" in o.get("data", {})]
    assert len(outputs) == 1, outputs
    return outputs[0]["data"]["text/markdown"], outputs[0]["metadata"]


def usage_error(execution: Execution) -> str:
    """The one-line `UsageError: ...` IPython prints (to stderr, no traceback) for our errors."""
    assert execution.reply is not None and execution.reply["content"]["status"] == "error"
    assert not execution.errors  # no traceback output
    text = execution.stream_text("stderr")
    assert text.startswith("UsageError: ") and "Traceback" not in text
    return text


def output_updates(execution: Execution) -> list[tuple[float, str]]:
    """(arrival index, markdown) for every Output widget update the frontend received."""
    updates = []
    for index, message in enumerate(execution.messages):
        if message["msg_type"] != "comm_msg":
            continue
        state = message["content"]["data"].get("state", {})
        for output in state.get("outputs") or ():
            updates.append((index, output["data"].get("text/markdown", "")))
    return updates


def test_answer_streams_then_leaves_static_markdown(
    kernel: KernelSession, emulator: Emulator
) -> None:
    emulator.script(
        {
            "reasoning": "First I think.",
            "content": "## Result\n\n| x | y |\n|---|---|\n| 1 | 2 |\n",
            "usage": {"prompt_tokens": 50, "completion_tokens": 20},
            "rate": 200,
        }
    )
    run = kernel.run("%%kimi -t 0.4\nShow me a table")
    assert not run.errors
    markdown, metadata = final_markdown(run)
    assert "<details><summary>Reasoning</summary>" in markdown and "First I think." in markdown
    assert "| 1 | 2 |" in markdown and "in 50 · out 20" in markdown and "$0.0001" in markdown
    record = metadata["kimi_magic"]
    assert record["usage"] == {"prompt_tokens": 50, "cached_tokens": 0, "completion_tokens": 20}
    assert record["parameters"]["temperature"] == 0.4 and record["request_id"]
    # No widget view survives in the saved output, and every widget was closed.
    assert all(
        "application/vnd.jupyter.widget-view+json" not in o["data"] for o in run.final_outputs()
    )
    # (Besides the one model kept open for the kernel's life: see keep_widget_comms_open.)
    opened = [
        m
        for m in run.of_type("comm_open")
        if m["content"]["data"]["state"].get("_model_name") != "WidgetModel"
    ]
    assert len(opened) == len(run.of_type("comm_close"))
    assert emulator.token not in json.dumps([m["content"] for m in run.messages])


def test_finished_blocks_are_sent_once_and_updates_are_coalesced(
    kernel: KernelSession, emulator: Emulator
) -> None:
    emulator.script({"content": LONG_ANSWER, "chunks": 600, "rate": 300})
    run = kernel.run("%%kimi --new\nlong one")
    assert not run.errors
    seconds = run.ended - run.started
    updates = output_updates(run)
    sent = sum(len(text) for _, text in updates)
    # Re-sending the whole text per chunk would cost ~N*chunks/2 (here ~300 N); frozen blocks
    # plus a bounded tail stay a small multiple of N.
    assert sent < 4 * len(LONG_ANSWER), (sent, len(LONG_ANSWER))
    # <= ~15 re-renders a second, plus one per block. A rate, not a time limit: a slower run
    # allows more updates, so a loaded machine cannot make it fail.
    assert len(updates) < 15 * seconds + 25
    # The tail shows open paragraphs as they grow, never the whole answer so far.
    tails = [text for _, text in updates if text.startswith("Paragraph ")]
    assert tails and max(len(t) for t in tails) <= len(LONG_ANSWER) // 4
    markdown, _ = final_markdown(run)
    assert LONG_ANSWER.strip() in markdown


def test_reasoning_folds_when_the_answer_starts(kernel: KernelSession, emulator: Emulator) -> None:
    emulator.script(
        {
            "reasoning": "thinking " * 40,
            "content": "The answer " * 40,
            "chunk_chars": 9,
            "rate": 100,
        }
    )
    run = kernel.run("%%kimi --new\nthink first")
    accordion_ids = [
        m["content"]["comm_id"]
        for m in run.messages
        if (w := widget_of(m)) and w[0] == "AccordionModel"
    ]
    assert accordion_ids
    folds, opens, first_answer = [], [], None
    for index, message in enumerate(run.messages):
        if message["msg_type"] != "comm_msg":
            continue
        state = message["content"]["data"].get("state", {})
        if message["content"]["comm_id"] in accordion_ids and "selected_index" in state:
            (folds if state["selected_index"] is None else opens).append(index)
        for output in state.get("outputs") or ():
            if first_answer is None and "The answer" in output["data"].get("text/markdown", ""):
                first_answer = index
    assert opens and folds and first_answer is not None
    assert opens[0] < folds[0] <= first_answer


def _when_text_arrives(action: str, session: KernelSession) -> Any:
    """An on_message callback that interrupts or clicks Stop once some answer text is shown."""
    done = threading.Event()
    stop_ids: list[str] = []

    def on_message(message: dict[str, Any], execution: Execution) -> None:
        widget = widget_of(message)
        if widget and widget[0] == "ButtonModel" and widget[1].get("description") == "Stop":
            stop_ids.append(message["content"]["comm_id"])
        if done.is_set() or message["msg_type"] != "comm_msg":
            return
        outputs = message["content"]["data"].get("state", {}).get("outputs") or ()
        if any("count" in o["data"].get("text/markdown", "") for o in outputs):
            done.set()
            if action == "interrupt":
                session.interrupt()
            else:
                session.click(stop_ids[0])

    return on_message


@pytest.mark.parametrize("action", ["interrupt", "stop"])
def test_interrupt_or_stop_keeps_the_partial_answer_and_history(
    kernel: KernelSession, emulator: Emulator, action: str
) -> None:
    words = " ".join(f"count{i}" for i in range(300))
    emulator.script({"content": words, "chunk_chars": 6, "rate": 50})
    kernel.run("%kimi reset")
    run = kernel.run("%%kimi\ncount slowly", on_message=_when_text_arrives(action, kernel))
    markdown, metadata = final_markdown(run)
    assert "Interrupted" in markdown and metadata["kimi_magic"]["interrupted"] is True
    assert "usage not reported for an answer cut short · out ≈" in markdown
    shown = markdown.split("⏹")[0].strip()
    # Only part of the answer (which takes 12 s to stream) was shown: it ended at the action.
    assert shown.startswith("count0") and shown in words and len(shown) < len(words)
    if action == "interrupt":  # one short line, no traceback wall; the run stops there
        assert "Interrupted" in usage_error(run)
    else:  # Stop ends this answer only
        assert not run.errors and run.reply is not None
        assert run.reply["content"]["status"] == "ok"
    emulator.script({"content": "follow-up"})
    kernel.run("%kimi and then?")
    messages = emulator.requests[-1]["json"]["messages"]
    assert messages[-2]["role"] == "assistant" and messages[-2]["content"].startswith(shown[:20])


def test_error_mid_stream_is_one_message_and_keeps_the_answer(
    kernel: KernelSession, emulator: Emulator
) -> None:
    emulator.script(
        {
            "content": "partial words here and more",
            "chunk_chars": 5,
            "fault": {"type": "disconnect", "after_chunks": 3},
        }
    )
    run = kernel.run("%%kimi --new\nbreak please")
    markdown, metadata = final_markdown(run)
    assert "partial words" in markdown and "Stopped by an error" in markdown
    assert metadata["kimi_magic"]["truncated"] is True
    assert "connection broke" in usage_error(run)


def test_error_before_any_answer_is_one_message(kernel: KernelSession, emulator: Emulator) -> None:
    emulator.script({"fault": {"type": "http_error", "status": 403, "code": 5035}})
    run = kernel.run("%%kimi --new\nhello")
    assert "Workers Paid plan" in usage_error(run)
    assert not [o for o in run.final_outputs() if o.get("data", {}).get("text/markdown")]


def test_stop_works_while_the_model_is_silent(kernel: KernelSession, emulator: Emulator) -> None:
    # The stall outlasts the run's hang guard: only a Stop that ends the wait lets the cell finish.
    emulator.script({"content": "late words", "fault": {"type": "stall", "seconds": 600}})

    def stop_once_the_question_is_at_the_server(comm_id: str) -> None:
        wait_until(lambda: emulator.requests, "the question to reach the emulator")
        kernel.click(comm_id)

    def click_stop_while_silent(message: dict[str, Any], execution: Execution) -> None:
        widget = widget_of(message)
        if widget and widget[0] == "ButtonModel" and widget[1].get("description") == "Stop":
            comm_id = message["content"]["comm_id"]
            clicker = threading.Thread(
                target=stop_once_the_question_is_at_the_server, args=(comm_id,)
            )
            clicker.start()

    run = kernel.run(
        "%%kimi --new\nslow to start", on_message=click_stop_while_silent, timeout=HANG_GUARD_S
    )
    markdown, metadata = final_markdown(run)
    assert "Interrupted" in markdown and metadata["kimi_magic"]["interrupted"] is True
    assert "late words" not in markdown  # nothing came after the stall: it was cut, not waited out
    assert not run.errors
