"""run_python's approval and the tool blocks in JupyterLab: Approve runs the code and the answer
goes on, Deny reaches the model, and each tool call is a block that folds open and shut."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _lab import Lab
from _notebook_page import cells, open_notebook, run_menu, write_notebook

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.browser

CELL = "%%kimi --tools python\nCompute 6 times 7 in Python."


def script(emu: Emulator, code: str) -> None:
    emu.script(
        {
            "reasoning": "Run it.",
            "tool_calls": [{"name": "run_python", "arguments": {"code": code}}],
        },
        {"content": "The tool said: {{tool_result:0}}"},
    )


def output_of(page: Any) -> Any:
    """The asking cell's own output area: exactly one element. (`.jp-OutputArea` also matches
    the Output widgets inside it, as many as the live view shows at that moment.)"""
    return cells(page).nth(1).locator(".jp-Cell-outputArea")


def button(page: Any, name: str) -> Any:
    """The asking cell's button named `name`, once it shows (the failure says what the
    cell showed instead)."""
    # Not exact: the button's accessible name also holds its icon's glyph.
    found = output_of(page).get_by_role("button", name=name)
    try:
        found.wait_for(timeout=60_000)
    except Exception as error:  # Playwright's TimeoutError
        shown = (output_of(page).text_content() or "")[-1500:]
        raise AssertionError(
            f"No {name} button in the cell after 60 s; it shows: {shown!r}"
        ) from error
    return found


def wait_until_the_cell_finished(page: Any) -> None:
    """The asking cell has its execution number: the answer is final, no longer live."""
    page.wait_for_function(
        "(el) => /^\\[\\d+\\]:$/.test(el.textContent.trim())",
        arg=cells(page).nth(1).locator(".jp-InputPrompt").element_handle(),
        timeout=60_000,
    )


def test_approve_runs_the_code_and_the_answer_goes_on(
    page: Any, lab: Lab, emu: Emulator, screenshots: Path
) -> None:
    script(emu, "product = 6 * 7\nprint(product)")
    write_notebook(lab.root / "approve.ipynb", "%load_ext kimi_magic", CELL)
    open_notebook(page, lab, "approve.ipynb")
    run_menu(page, "Run All Cells")

    approve = button(page, "Approve")
    assert output_of(page).get_by_text("product = 6 * 7").first.is_visible()
    page.screenshot(path=screenshots / "20-run-python-approval.png")
    approve.click()

    wait_until_the_cell_finished(page)
    assert "The tool said: stdout:" in output_of(page).inner_text()
    assert "run_python: approved" in output_of(page).inner_text()
    assert emu.requests[-1]["json"]["messages"][-1]["content"].startswith("stdout:\n42")

    block = output_of(page).locator("details").filter(has_text="tool run_python").first
    assert block.get_attribute("open") is None  # folded once the tool ended
    page.screenshot(path=screenshots / "21-tool-block-folded.png")
    block.locator("summary").click()
    assert block.get_attribute("open") is not None
    block.get_by_text("product = 6 * 7").first.wait_for()
    page.screenshot(path=screenshots / "22-tool-block-open.png")
    assert output_of(page).get_by_role("button", name="Approve").count() == 0


def test_deny_reaches_the_model(page: Any, lab: Lab, emu: Emulator, screenshots: Path) -> None:
    script(emu, "denied = True")
    write_notebook(lab.root / "deny.ipynb", "%load_ext kimi_magic", CELL)
    open_notebook(page, lab, "deny.ipynb")
    run_menu(page, "Run All Cells")

    deny = button(page, "Deny")
    deny.click()
    wait_until_the_cell_finished(page)
    assert "The tool said: Not run: The user denied" in output_of(page).inner_text()
    page.screenshot(path=screenshots / "23-run-python-denied.png")
    assert "run_python: denied" in output_of(page).inner_text()
    sent = emu.requests[-1]["json"]["messages"][-1]
    assert sent["role"] == "tool" and sent["content"].startswith("Not run:")
