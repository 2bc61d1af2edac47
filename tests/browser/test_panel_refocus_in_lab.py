"""`%kimi panel` a second time brings the one panel forward in JupyterLab's right area, with the
settings it had, instead of opening a second copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _lab import Lab
from _notebook_page import open_notebook, run_menu, select_cell, write_notebook

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.browser


def test_second_panel_call_refocuses_the_same_panel(
    page: Any, lab: Lab, emu: Emulator, screenshots: Path
) -> None:
    write_notebook(
        lab.root / "panel-twice.ipynb",
        "%load_ext kimi_magic\n%kimi panel",
        "%config KimiMagics.temperature = 1.5",
        "%kimi panel",
    )
    open_notebook(page, lab, "panel-twice.ipynb")
    select_cell(page, 1)
    run_menu(page, "Run All Above Selected Cell")
    tabs = page.locator(".jp-SideBar.jp-mod-right .lm-TabBar-tab", has_text="Kimi K2.6")
    tabs.first.wait_for()
    tabs.first.click()  # fold the right area away, as a user does to get room
    page.wait_for_function("""() => !Array.from(document.querySelectorAll(
        '.jp-SideBar.jp-mod-right .lm-TabBar-tab.lm-mod-current')).some(
        t => t.textContent.includes('Kimi K2.6'))""")

    select_cell(page, 1)
    run_menu(page, "Run Selected Cell")  # %config KimiMagics.temperature = 1.5
    run_menu(page, "Run Selected Cell")  # %kimi panel, again
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll(
        '.jp-SideBar.jp-mod-right .lm-TabBar-tab.lm-mod-current')).some(
        t => t.textContent.includes('Kimi K2.6'))""",
        timeout=30_000,
    )
    assert tabs.count() == 1, "a second panel was opened"
    readout = page.locator(
        "#jp-right-stack .widget-slider", has=page.locator(".widget-label", has_text="temperature")
    ).locator(".widget-readout")
    page.wait_for_function("(el) => el.textContent.trim() === '1.50'", arg=readout.element_handle())
    page.screenshot(path=screenshots / "09-panel-refocused.png")
