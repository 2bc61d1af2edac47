"""`-f code` in JupyterLab: the answer's code arrives as a new cell below, ready to run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _lab import Lab
from _notebook_page import cells, open_notebook, run_menu, write_notebook

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.browser

CODE = "def average(values):\n    return sum(float(v) for v in values) / len(values)"


def test_code_answer_becomes_a_new_cell_below(
    page: Any, lab: Lab, emu: Emulator, screenshots: Path
) -> None:
    emu.script(
        {
            "reasoning": "Convert first.",
            "content": f"Convert each string first:\n\n```python\n{CODE}\n```\n",
        }
    )
    write_notebook(
        lab.root / "code.ipynb",
        "%load_ext kimi_magic",
        "%%kimi -f code\nFix my average of strings.",
    )
    open_notebook(page, lab, "code.ipynb")
    run_menu(page, "Run All Cells")

    cells(page).nth(2).wait_for(timeout=60_000)
    new_cell = cells(page).nth(2)
    page.wait_for_function(
        "(el) => el.textContent.includes('return sum(float(v)')",
        arg=new_cell.locator(".jp-InputArea-editor").element_handle(),
    )
    page.screenshot(path=screenshots / "09-code-into-new-cell.png")

    assert "jp-CodeCell" in (new_cell.get_attribute("class") or "")
    editor_text = new_cell.locator(".jp-InputArea-editor .cm-content").inner_text()
    assert editor_text.strip() == CODE
    assert cells(page).count() == 3
