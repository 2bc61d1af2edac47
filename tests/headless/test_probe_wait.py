"""Which view the first answer gets when the frontend's answer to the kernel's probe is late or
lost, as it can be in JupyterLab on a loaded machine (render/frontend.py): JupyterLab, known by
the metadata it sends with each cell, gets the live view anyway; a client that sends none
(nbclient) is waited for one second, then gets plain markdown."""

from __future__ import annotations

from pathlib import Path

import pytest
from kernel_session import Execution, kernel_aimed_at

from kimi_magic.emulator import Emulator
from kimi_magic.render.frontend import PROBE_WAIT_S

pytestmark = pytest.mark.notebook

LATE_S = PROBE_WAIT_S + 1.5  # later than any client is waited for
NEVER_S = 3600.0  # a lost answer
ANSWER = "\n\n".join(f"Paragraph {i}: words that keep coming." for i in range(12))


def widget_comms(run: Execution) -> list[str]:
    return [
        m["content"]["target_name"]
        for m in run.of_type("comm_open")
        if m["content"]["target_name"] == "jupyter.widget"
    ]


def ask(emulator: Emulator, tmp_path: Path, **frontend: bool | float) -> Execution:
    emulator.script({"content": ANSWER, "chunk_chars": 12, "rate": 100})
    with kernel_aimed_at(emulator, tmp_path, **frontend) as kernel:
        run = kernel.run("%%kimi\nA few paragraphs, please.")
    assert not run.errors, run.errors
    (final,) = run.final_outputs()
    assert "Paragraph 11" in final["data"]["text/markdown"]  # the same answer either way
    return run


@pytest.mark.parametrize("delay", [LATE_S, NEVER_S], ids=["late", "lost"])
def test_jupyterlab_whose_probe_answer_is_late_or_lost_gets_the_widget_view(
    emulator: Emulator, tmp_path: Path, delay: float
) -> None:
    run = ask(emulator, tmp_path, notebook_metadata=True, probe_answer_delay=delay)

    assert widget_comms(run), "the first answer streamed as plain markdown, not in the live view"
    as_text = [
        u
        for u in run.of_type("update_display_data")[:-1]  # the last is the final output
        if "Paragraph" in u["content"]["data"].get("text/plain", "")
    ]
    assert not as_text


def test_a_client_that_sends_no_notebook_metadata_is_waited_for_one_second_only(
    emulator: Emulator, tmp_path: Path
) -> None:
    run = ask(emulator, tmp_path, notebook_metadata=False, probe_answer_delay=LATE_S)

    assert not widget_comms(run)
    streamed = run.of_type("update_display_data")
    assert any("Paragraph 0" in u["content"]["data"]["text/plain"] for u in streamed[:-1])
