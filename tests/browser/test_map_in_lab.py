"""map in JupyterLab: the progress bar updates while rows are answered, its Stop button stops
the job with every finished row kept, and a summary line replaces the bar."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from _lab import Lab
from _notebook_page import cells, open_notebook, run_menu, write_notebook

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.browser

ROWS = 400


def test_progress_bar_and_stop_in_jupyterlab(
    page: Any, lab: Lab, emu: Emulator, screenshots: Path
) -> None:
    emu.configure_load(latency=0.05)  # 400 rows, 4 at a time: about 5 s unless stopped
    write_notebook(
        lab.root / "map-stop.ipynb",
        "import kimi_magic",
        f"out = kimi_magic.map([f'row {{i}}' for i in range({ROWS})], 'Echo {{item}}',\n"
        "                     concurrency=4, checkpoint=False)\n"
        "print('kept', sum(t is not None for t in out))",
    )
    open_notebook(page, lab, "map-stop.ipynb")
    run_menu(page, "Run All Cells")
    cell = cells(page).nth(1)
    stop = cell.get_by_role("button", name="Stop")
    stop.wait_for(timeout=60_000)
    page.wait_for_function(
        """() => /([2-9]\\d|\\d{3})\\/400 done/.test(document.body.textContent)""",
        timeout=30_000,
    )
    cell.screenshot(path=screenshots / "12-map-progress.png")
    label = cell.locator(".jp-OutputArea-output").first.text_content() or ""
    assert re.search(r"\d+/400 done · \d+ failed · [\d,]+ tokens · \$\d.* ETA", label), label
    assert "400 items to send" in label  # the estimate, shown from the start
    stop.click()

    printed = cell.locator(".jp-OutputArea-output", has_text="kept")
    printed.wait_for(timeout=30_000)
    cell.screenshot(path=screenshots / "13-map-stopped.png")
    kept = int((printed.text_content() or "").split()[-1])
    assert 20 <= kept < ROWS
    summary = cell.locator(".jp-OutputArea-output").first.text_content() or ""
    assert "stopped: Stop" in summary and f"{kept} of {ROWS} items answered" in summary
    assert cell.locator("mjx-container").count() == 0  # the dollars stay dollars
    assert len(emu.requests) == kept  # every answered row is in the result
