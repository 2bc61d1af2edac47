"""What a JupyterLab user sees of a background answer (`%%kimi --bg`), of the context gauge, and
of the kernel status while an answer streams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _lab import Lab
from _notebook_page import (
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

SLOW_RATE = 20  # chunks a second
STREAM_TIMEOUT_S = 60
PARAGRAPHS = [f"Paragraph {n} of the background answer, still arriving." for n in range(1, 13)]
GAUGE = "context "  # the gauge line: "context 1,234 / 245,760 tokens (1%)"


def output_text(page: Any, index: int) -> str:
    text: str = cells(page).nth(index).locator(".jp-Cell-outputArea").text_content() or ""
    return text


def prompt(page: Any, index: int) -> str:
    text: str = cells(page).nth(index).locator(".jp-InputPrompt").text_content() or ""
    return text.strip()


def test_background_answer_streams_in_its_cell_while_a_later_cell_finishes_first(
    page: Any, lab: Lab, emu: Emulator, screenshots: Path
) -> None:
    emu.script({"content": "\n\n".join(PARAGRAPHS), "rate": SLOW_RATE})
    write_notebook(
        lab.root / "background.ipynb",
        "%load_ext kimi_magic",
        "%%kimi --bg\nWrite a long answer.",
        "print(sum(range(10)), 'computed meanwhile')",
    )
    open_notebook(page, lab, "background.ipynb")
    record_cell(page, 1)
    select_cell(page, 1)
    run_menu(page, "Run All Above Selected Cell")
    select_cell(page, 1)
    run_menu(page, "Run Selected Cell and Do not Advance")
    wait_for_state(
        page,
        lambda s: s.get("live") and "Paragraph 1" in s.get("answer", ""),
        STREAM_TIMEOUT_S,
        "the background answer to start streaming",
    )
    assert prompt(page, 1) != "[*]:", "the --bg cell did not return at once"

    select_cell(page, 2)
    run_menu(page, "Run Selected Cell and Do not Advance")
    later = cells(page).nth(2).locator(".jp-OutputArea-output", has_text="computed meanwhile")
    later.wait_for(timeout=STREAM_TIMEOUT_S * 1000)
    streaming = recorded(page)[-1]
    page.screenshot(path=screenshots / "12-background-answer.png")
    assert streaming["live"] and "Paragraph 12" not in streaming["answer"], (
        "the later cell did not finish while the background answer was still streaming"
    )
    assert "45 computed meanwhile" in output_text(page, 2)
    assert "Paragraph" not in output_text(page, 2), "the answer leaked into the later cell"

    final = wait_for_state(
        page,
        lambda s: not s["live"] and "Paragraph 12" in s.get("text", ""),
        STREAM_TIMEOUT_S,
        "the static markdown to replace the live view in the --bg cell",
    )
    grown = {s["answer"] for s in recorded(page) if s.get("live") and s.get("answer")}
    assert len(grown) >= 3, "the answer did not grow in its cell while streaming"
    assert GAUGE in final["text"] and "tokens" in final["text"], "no gauge in the footer"
    assert cells(page).nth(1).locator(".jp-RenderedMarkdown").count() >= 1
    assert cells(page).nth(1).get_by_role("button", name="Stop").count() == 0
    page.screenshot(path=screenshots / "12b-background-answer-done.png")


def test_context_gauge_in_the_answer_footer_and_the_panel(
    page: Any, lab: Lab, emu: Emulator, screenshots: Path
) -> None:
    emu.script({"content": "Hello there, in five words."})
    write_notebook(
        lab.root / "gauge.ipynb",
        "%load_ext kimi_magic",
        "%%kimi\nSay hello in five words.",
        "%kimi panel",
    )
    open_notebook(page, lab, "gauge.ipynb")
    run_menu(page, "Run All Cells")
    answer = cells(page).nth(1).locator(".jp-RenderedMarkdown", has_text=GAUGE)
    answer.wait_for(timeout=STREAM_TIMEOUT_S * 1000)
    footer = answer.text_content() or ""
    assert "Hello there" in footer
    assert "/ 245,760 tokens" in footer or "tokens (" in footer, footer

    right = page.locator("#jp-right-stack")
    usage = right.locator(".widget-html", has_text="Session usage")
    usage.wait_for(timeout=STREAM_TIMEOUT_S * 1000)
    panel = usage.text_content() or ""
    assert GAUGE in panel and "tokens" in panel, panel
    # The panel's gauge is the conversation's after the answer: not empty.
    used = int(panel.split(GAUGE, 1)[1].split("/", 1)[0].replace(",", "").strip())
    assert used > 0, panel
    assert right.locator("[class*=progress]").count() >= 1, "no gauge bar in the panel"
    page.screenshot(path=screenshots / "13-gauge.png")


def test_status_bar_reads_busy_while_an_answer_streams_and_a_stopped_cell_finishes(
    page: Any, lab: Lab, emu: Emulator, screenshots: Path
) -> None:
    # The answer stalls (for longer than the test runs) partway through, so the cell cannot
    # finish before Stop: every read of the status bar below falls while it streams, however
    # slowly the machine runs the browser, the kernel or this test.
    stall = {"type": "stall", "after_chunks": 100, "seconds": 600}
    emu.script({"content": "\n\n".join(PARAGRAPHS), "rate": SLOW_RATE, "fault": stall})
    write_notebook(lab.root / "status.ipynb", "%load_ext kimi_magic", "%%kimi\nA long answer.")
    open_notebook(page, lab, "status.ipynb")
    record_cell(page, 1)
    run_menu(page, "Run All Cells")
    bar = page.locator("#jp-main-statusbar")
    samples = []
    for paragraph in ("Paragraph 1", "Paragraph 2", "Paragraph 3"):  # as each one arrives
        wait_for_state(
            page,
            lambda s, p=paragraph: s.get("live") and p in s.get("answer", ""),
            STREAM_TIMEOUT_S,
            f"{paragraph} to stream in",
        )
        samples.append(bar.inner_text())
    idle = [s for s in samples if "| Idle" in s]
    assert not idle, f"the status bar read Idle while the answer streamed: {samples}"

    # Stop: the cell finishes (its prompt gets its number) and only then the kernel is idle.
    cells(page).nth(1).get_by_role("button", name="Stop").click()
    final = wait_for_state(page, lambda s: not s["live"], STREAM_TIMEOUT_S, "the answer to end")
    assert "Interrupted" in final["text"] and "Paragraph 12" not in final["text"]
    bar.get_by_text("| Idle").wait_for(timeout=10_000)
    page.wait_for_function(
        "(el) => el.textContent.trim() === '[2]:'",
        arg=cells(page).nth(1).locator(".jp-InputPrompt").element_handle(),
        timeout=10_000,
    )
    page.screenshot(path=screenshots / "14-stopped-cell-finished.png")
