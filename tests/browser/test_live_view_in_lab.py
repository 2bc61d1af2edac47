"""What a JupyterLab user sees while an answer streams: growth, folding, rendering, Stop.

Screenshots go to artifacts/screenshots/; docs/live-view.png (the README's) is a copy of
03-table-frozen-code-streaming.png, refreshed by hand when the view changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _lab import Lab
from _notebook_page import (
    cell_index,
    cells,
    open_notebook,
    record_cell,
    recorded,
    run_menu,
    select_cell,
    wait_for_state,
    write_notebook,
)

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.browser

SLOW_RATE = 20  # chunks a second: a ~600-character answer takes ~8 s, plenty of renders to see
STREAM_TIMEOUT_S = 60


def answering(state: dict[str, Any], chars: int = 1) -> bool:
    return bool(state.get("live")) and len(state.get("answer", "")) >= chars


def test_quickstart_answer_grows_folds_its_reasoning_and_renders(
    page: Any, lab: Lab, emu: Emulator, screenshots: Path
) -> None:
    emu.configure(rate=SLOW_RATE)
    open_notebook(page, lab, "01-quickstart.ipynb")
    index = cell_index(page, "%%kimi")
    select_cell(page, index)
    run_menu(page, "Run All Above Selected Cell")  # %load_ext kimi_magic
    select_cell(page, index)
    record_cell(page, index)
    run_menu(page, "Run Selected Cell and Do not Advance")
    cell = cells(page).nth(index)

    wait_for_state(
        page,
        lambda s: s.get("thinkingOpen") and s.get("reasoning"),
        STREAM_TIMEOUT_S,
        "the reasoning to stream into an open Thinking section",
    )
    page.screenshot(path=screenshots / "01-thinking.png")
    wait_for_state(
        page, lambda s: answering(s, 200), STREAM_TIMEOUT_S, "200 characters of the answer"
    )
    page.screenshot(path=screenshots / "02-answer-streaming.png")
    wait_for_state(
        page,
        lambda s: s["live"] and "return sum" in s["answer"],
        STREAM_TIMEOUT_S,
        "the code block to stream in",
    )
    cell.screenshot(path=screenshots / "03-table-frozen-code-streaming.png")
    wait_for_state(
        page,
        lambda s: not s["live"] and "Reasoning" in s["text"],
        STREAM_TIMEOUT_S,
        "the static final output",
    )
    page.screenshot(path=screenshots / "04-final-answer.png")

    log = recorded(page)
    live = [s for s in log if s["live"]]
    partial_answers = {s["answer"] for s in live if s["answer"]}
    assert len(partial_answers) >= 3, f"the answer grew in only {len(partial_answers)} renders"
    assert any(s["thinkingOpen"] and s["reasoning"] and not s["answer"] for s in live), (
        "the reasoning was never shown open before the answer"
    )
    assert not [s for s in live if s["answer"] and s["thinkingOpen"]], (
        "the Thinking section stayed open after the answer started"
    )

    output = cell.locator(".jp-Cell-outputArea .jp-RenderedMarkdown")
    assert output.locator("table td").first.text_content() == "Input"
    code = output.locator("pre code.language-python")
    assert "def mean" in (code.text_content() or "")
    assert code.locator("span").count() >= 3, "the code block is not highlighted"
    assert output.locator("mjx-container").count() >= 2, "the math was not typeset by MathJax"
    assert output.locator("details summary").first.text_content() == "Reasoning"


def test_stop_keeps_the_partial_answer_marked_interrupted(
    page: Any, lab: Lab, emu: Emulator, screenshots: Path
) -> None:
    paragraphs = [
        f"Paragraph {n}: the answer keeps going so that there is time to stop it."
        for n in range(1, 40)
    ]
    emu.script(
        {"reasoning": "Plan a long answer.", "content": "\n\n".join(paragraphs), "rate": SLOW_RATE}
    )
    write_notebook(
        lab.root / "stop.ipynb",
        "%load_ext kimi_magic",
        "%%kimi\nWrite a very long answer.",
        "%kimi history",
    )
    open_notebook(page, lab, "stop.ipynb")
    record_cell(page, 1)
    select_cell(page, 1)
    run_menu(page, "Run All Above Selected Cell")
    select_cell(page, 1)
    run_menu(page, "Run Selected Cell and Do not Advance")
    cell = cells(page).nth(1)

    wait_for_state(
        page,
        lambda s: "Paragraph 2" in s.get("answer", ""),
        STREAM_TIMEOUT_S,
        "the answer to reach its second paragraph",
    )
    cell.get_by_role("button", name="Stop").click()
    final = wait_for_state(
        page,
        lambda s: not s["live"] and "Interrupted" in s["text"],
        STREAM_TIMEOUT_S,
        "the static output marked Interrupted",
    )
    page.screenshot(path=screenshots / "05-stopped.png")

    assert "Paragraph 1:" in final["text"] and "Paragraph 2" in final["text"]
    assert "Paragraph 39" not in final["text"], "the stream was not stopped"
    assert len(emu.requests) == 1

    # The conversation kept the partial answer, so a follow-up can build on it.
    select_cell(page, 2)
    run_menu(page, "Run Selected Cell and Do not Advance")
    history = cells(page).nth(2).locator(".jp-RenderedMarkdown").first
    history.wait_for()
    assert "Paragraph 1:" in (history.text_content() or "")
