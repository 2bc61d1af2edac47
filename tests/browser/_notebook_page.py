"""What a person does in JupyterLab, as Playwright steps: open a notebook, run cells, watch one."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import nbformat
from _lab import Lab

KERNEL_IDLE = "(ipykernel) | Idle"
KERNEL_START_TIMEOUT_MS = 60_000

# Records every distinct state of one cell's output, from inside the page, on each DOM change:
# the live widget view (answer text, thinking section shown / open) or the static output.
RECORDER_JS = """
(index) => {
  const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[index];
  const log = [];
  window.__kimiLog = log;
  const snapshot = () => {
    const out = cell.querySelector('.jp-Cell-outputArea');
    if (!out) return;
    const root = out.querySelector('.widget-vbox');
    let state;
    if (root) {
      const accordion = root.querySelector(':scope > .widget-accordion');
      const answer = root.querySelector(':scope > .widget-vbox');
      const contents = accordion && accordion.querySelector('.jupyter-widget-Collapse-contents');
      state = {
        live: true,
        answer: answer ? answer.textContent.trim() : '',
        thinkingShown: !!accordion && getComputedStyle(accordion).display !== 'none',
        thinkingOpen: !!contents && !contents.classList.contains('lm-mod-hidden'),
        reasoning: contents ? contents.textContent.trim() : '',
      };
    } else {
      state = {live: false, text: out.textContent.trim()};
    }
    const key = JSON.stringify(state);
    if (!log.length || log[log.length - 1].key !== key) {
      log.push({key, t: performance.now(), ...state});
    }
  };
  new MutationObserver(snapshot).observe(cell, {
    subtree: true, childList: true, characterData: true, attributes: true,
  });
  snapshot();
}
"""


def write_notebook(path: Path, *sources: str) -> Path:
    """A notebook of code cells, with the kernel the lab starts for it."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "language": "python",
        "display_name": "Python 3 (ipykernel)",
    }
    nbformat.write(notebook, path)
    return path


def open_notebook(page: Any, lab: Lab, name: str) -> None:
    """Open `name` and wait until its kernel really exists (the toolbar says idle too early)."""
    page.goto(lab.tree_url(name))
    page.locator("#jp-main-statusbar").get_by_text(KERNEL_IDLE).wait_for(
        timeout=KERNEL_START_TIMEOUT_MS
    )
    # Fold the file browser away so the notebook has the width a reader would give it.
    current = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if current.count():
        current.first.click()


def run_menu(page: Any, item: str) -> None:
    """Run > `item`, from the menu bar (more reliable than early key presses)."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    # The item's accessible name includes its shortcut, so match the label text exactly.
    label = re.compile(f"^{re.escape(item)}$")
    page.locator(".lm-Menu .lm-Menu-itemLabel").filter(has_text=label).click()


def cells(page: Any) -> Any:
    return page.locator(".jp-Notebook .jp-Cell")


def cell_index(page: Any, starts_with: str) -> int:
    """The index of the first cell whose source starts with `starts_with`."""
    sources = page.evaluate("""() => Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell'))
        .map(c => (c.querySelector('.jp-InputArea-editor') || c).textContent)""")
    for index, source in enumerate(sources):
        if source.lstrip().startswith(starts_with):
            return index
    raise AssertionError(f"No cell starts with {starts_with!r}; cells: {sources!r}")


def select_cell(page: Any, index: int) -> None:
    cells(page).nth(index).locator(".jp-InputPrompt").click()


def record_cell(page: Any, index: int) -> None:
    page.evaluate(RECORDER_JS, index)


def recorded(page: Any) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = page.evaluate("() => window.__kimiLog")
    return log


def last_state(page: Any) -> dict[str, Any]:
    log = recorded(page)
    return log[-1] if log else {}


def wait_for_state(page: Any, predicate: Any, timeout_s: float, what: str) -> dict[str, Any]:
    """Poll the recorder until `predicate(state)` holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = last_state(page)
        if state and predicate(state):
            return state
        time.sleep(0.05)
    raise AssertionError(
        f"Timed out after {timeout_s:.0f} s waiting for {what}; "
        f"last states: {json.dumps(recorded(page)[-3:])[:1500]}"
    )
