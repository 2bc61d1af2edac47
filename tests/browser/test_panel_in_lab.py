"""The settings sidebar in JupyterLab's right area steers the next request the model receives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _lab import Lab
from _notebook_page import cells, open_notebook, run_menu, select_cell, write_notebook

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.browser

TARGET_SHARE = 0.3  # drag the temperature handle to 30% of its 0..2 track: about 0.6
ANSWER_TIMEOUT_MS = 60_000


def test_panel_opens_on_the_right_and_its_temperature_reaches_the_request(
    page: Any, lab: Lab, emu: Emulator, screenshots: Path
) -> None:
    write_notebook(
        lab.root / "panel.ipynb",
        "%load_ext kimi_magic",
        "%kimi panel",
        "%%kimi\nSay hello in five words.",
    )
    open_notebook(page, lab, "panel.ipynb")
    select_cell(page, 2)
    run_menu(page, "Run All Above Selected Cell")  # load the extension, open the panel

    right = page.locator("#jp-right-stack")
    tab = page.locator(".jp-SideBar.jp-mod-right .lm-TabBar-tab", has_text="Kimi K2.6")
    tab.wait_for()
    assert "lm-mod-current" in (tab.get_attribute("class") or ""), "the panel did not open"
    slider = right.locator(
        ".widget-slider", has=page.locator(".widget-label", has_text="temperature")
    )
    slider.wait_for()
    assert cells(page).nth(1).locator(".jp-OutputArea-output").count() == 0, (
        "the panel was shown inline, not in the right area"
    )
    page.screenshot(path=screenshots / "06-panel-open.png")

    track = slider.locator(".noUi-base").bounding_box()
    handle = slider.locator(".noUi-handle").bounding_box()
    assert track and handle
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(
        track["x"] + TARGET_SHARE * track["width"], handle["y"] + handle["height"] / 2, steps=8
    )
    page.mouse.up()
    readout = slider.locator(".widget-readout")
    page.wait_for_function("(el) => el.textContent.trim() !== '1.00'", arg=readout.element_handle())
    chosen = float(readout.text_content() or "nan")
    assert 0.3 <= chosen <= 0.9, f"the slider moved to {chosen}, not near 0.6"
    page.screenshot(path=screenshots / "07-panel-temperature-moved.png")

    select_cell(page, 2)
    run_menu(page, "Run Selected Cell and Do not Advance")
    cells(page).nth(2).locator(".jp-RenderedMarkdown").first.wait_for(timeout=ANSWER_TIMEOUT_MS)
    page.screenshot(path=screenshots / "08-panel-answer.png")

    assert len(emu.requests) == 1
    assert emu.requests[0]["json"]["temperature"] == pytest.approx(chosen)
