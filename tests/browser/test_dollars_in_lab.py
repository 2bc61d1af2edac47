"""Dollar amounts stay dollar amounts: JupyterLab typesets text between two `$` as LaTeX math."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _lab import Lab
from _notebook_page import cells, open_notebook, run_menu, write_notebook

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.browser


def test_costs_in_answers_usage_and_history_are_not_typeset_as_math(
    page: Any, lab: Lab, emu: Emulator, screenshots: Path
) -> None:
    # One stray `$` in the answer would pair with the `$` of the cost in the footer.
    emu.script({"content": "The plan costs $5 a month."}, {"content": "Yes, about $60 a year."})
    write_notebook(
        lab.root / "dollars.ipynb",
        "%load_ext kimi_magic",
        "%%kimi\nWhat does it cost?",
        "%kimi And per year?",
        "%kimi usage",
        "%kimi history",
    )
    open_notebook(page, lab, "dollars.ipynb")
    run_menu(page, "Run All Cells")
    cells(page).nth(4).locator(".jp-RenderedMarkdown").first.wait_for(timeout=60_000)
    page.screenshot(path=screenshots / "11-dollars.png", full_page=True)

    for index in (1, 2, 3, 4):
        output = cells(page).nth(index).locator(".jp-OutputArea-output").first
        text = output.text_content() or ""
        assert output.locator("mjx-container").count() == 0, f"cell {index} typeset math: {text}"
        assert "$0.0" in text, f"cell {index} lost its cost: {text}"
    assert "The plan costs $5 a month." in (cells(page).nth(1).text_content() or "")
    usage_cells = cells(page).nth(3).locator("td").all_text_contents()
    assert sum(cell.startswith("$") for cell in usage_cells) == 2, usage_cells
