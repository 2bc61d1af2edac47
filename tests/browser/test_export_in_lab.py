"""`%kimi export` of a whole conversation, made and read in JupyterLab: a question with an image
answered with reasoning, a run_python round that draws a plot, and an answer stopped with Stop;
the .ipynb validates with nbformat (and has nothing GitHub would leave blank) and, opened in
the lab, shows what a reader needs: the questions and answers, the folded reasoning, the
images, the agent's code and the partial answer's mark.

The screenshot goes to artifacts/screenshots/; docs/export-notebook.png is a copy of it,
refreshed by hand when the export changes.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from _lab import Lab
from _notebook_page import (
    cell_index,
    cells,
    open_notebook,
    record_cell,
    run_menu,
    wait_for_state,
    write_notebook,
)

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.browser

STREAM_TIMEOUT_S = 60
RUN_TIMEOUT_MS = 120_000
SLOW_RATE = 20  # chunks a second, so the long answer is still arriving when Stop is pressed
PLOT = (
    "import numpy as np\nimport matplotlib.pyplot as plt\n"
    "x = np.linspace(0, 2 * np.pi, 200)\nplt.figure(figsize=(4, 2.5))\n"
    "plt.plot(x, np.sin(x))\nplt.title('One period of sin(x)')\nplt.show()\nprint('drawn')"
)
PARAGRAPHS = [f"Paragraph {n}: a sine wave rises, falls and rises again." for n in range(1, 40)]
QUESTION = "What is in this picture?"
FIRST_ANSWER = "A small orange square."
SECOND_ANSWER = "The plot shows one period of a sine wave."

# What the opened notebook shows, read from the page: rendered markdown, folded blocks, images
# (loaded: natural width above 0), code cell sources. textContent, not innerText: a cell out of
# view has no innerText (testing-notes.md).
SHOWN_JS = """() => {
  const md = Array.from(document.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown'));
  const images = Array.from(document.querySelectorAll('.jp-Notebook .jp-OutputArea-output img'));
  return {
    markdown: md.map(m => m.textContent),
    summaries: Array.from(document.querySelectorAll('.jp-MarkdownCell details > summary'))
      .map(s => s.textContent.trim()),
    images: images.map(i => ({complete: i.complete, width: i.naturalWidth})),
    code: Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputArea-editor'))
      .map(e => e.textContent),
  };
}"""


def small_png() -> str:
    """A 24x24 orange square as a data URL (what `--image png` sends)."""
    image = pytest.importorskip("PIL.Image").new("RGB", (24, 24), (240, 140, 30))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def wait_until_ran(page: Any, index: int) -> None:
    """Cell `index` has its execution number: it ran to the end."""
    page.wait_for_function(
        "(el) => /^\\[\\d+\\]:$/.test(el.textContent.trim())",
        arg=cells(page).nth(index).locator(".jp-InputPrompt").element_handle(),
        timeout=RUN_TIMEOUT_MS,
    )


def have_a_conversation(page: Any, lab: Lab, emu: Emulator) -> None:
    """Ask three questions in the lab (the last one stopped partway) and export them."""
    emu.script(
        {"reasoning": "One flat colour, no shapes.", "content": FIRST_ANSWER},
        {
            "reasoning": "Draw it with matplotlib.",
            "tool_calls": [{"name": "run_python", "arguments": {"code": PLOT}}],
        },
        {"content": SECOND_ANSWER},
        {
            "content": "\n\n".join(PARAGRAPHS),
            "rate": SLOW_RATE,
            # Stalls far longer than the test runs: the answer ends only by Stop.
            "fault": {"type": "stall", "after_chunks": 200, "seconds": 600},
        },
    )
    write_notebook(
        lab.root / "asking.ipynb",
        "%load_ext kimi_magic",
        f"png = {small_png()!r}",
        f"%%kimi --image png\n{QUESTION}",
        "%%kimi --tools python --approve auto\nPlot one period of a sine wave.",
        "%%kimi\nExplain sine waves at length.",
        "%kimi export conversation.ipynb",
        "%kimi export conversation.md",
    )
    open_notebook(page, lab, "asking.ipynb")
    long_one = cell_index(page, "%%kimiExplain")  # textContent joins lines
    record_cell(page, long_one)
    run_menu(page, "Run All Cells")
    wait_for_state(
        page,
        lambda s: "Paragraph 2" in s.get("answer", ""),
        STREAM_TIMEOUT_S * 2,
        "the long answer to reach its second paragraph",
    )
    cells(page).nth(long_one).get_by_role("button", name="Stop").click()
    wait_until_ran(page, cell_index(page, "%kimi export conversation.md"))


def test_an_exported_conversation_validates_and_reads_well_in_jupyterlab(
    page: Any, lab: Lab, emu: Emulator, screenshots: Path
) -> None:
    have_a_conversation(page, lab, emu)

    # The files: a notebook nbformat accepts, with no token and nothing GitHub leaves blank.
    raw = (lab.root / "conversation.ipynb").read_text(encoding="utf-8")
    notebook = nbformat.reads(raw, as_version=4)
    nbformat.validate(notebook)
    assert emu.token not in raw
    assert "attachment:" not in raw and not any("attachments" in c for c in notebook.cells)
    drawn = [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "display_data"
    ]
    assert len(drawn) == 2 and all("image/png" in o.data for o in drawn)  # question, plot
    text = (lab.root / "conversation.md").read_text(encoding="utf-8")
    assert emu.token not in text and "> ⚠ Partial answer (interrupted)." in text  # by Stop
    assert "![image 1](conversation_files/img-1.png)" in text
    assert (lab.root / "conversation_files" / "img-2.png").stat().st_size > 1000  # the plot

    # The notebook, opened as a reader would.
    open_notebook(page, lab, "conversation.ipynb")
    page.locator(".jp-MarkdownCell .jp-RenderedMarkdown").first.wait_for()
    shown = page.evaluate(SHOWN_JS)
    markdown = "\n".join(shown["markdown"])
    marks = ("Partial answer", "usage not reported for an answer cut short")
    for words in (QUESTION, FIRST_ANSWER, SECOND_ANSWER, "Paragraph 1:", *marks):
        assert words in markdown, f"{words!r} is not in the rendered markdown"
    assert "Paragraph 39" not in markdown  # stopped before it came
    assert shown["summaries"].count("Reasoning") == 2, shown["summaries"]
    assert any("np.sin(x)" in source for source in shown["code"]), shown["code"]
    assert len(shown["images"]) == 2 and all(i["width"] > 0 for i in shown["images"]), shown
    assert emu.token not in json.dumps(shown)

    # The plot under the agent's code; then the stopped answer with its mark.
    cells(page).filter(has_text="np.sin(x)").first.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "30-export-notebook.png")
    cells(page).last.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "31-export-notebook-partial.png")
