"""Asking the user before run_python runs code: Approve / Deny buttons in the cell's output,
a prompt on the terminal, or a plain "no" where nothing can answer.

`approve = "auto"` runs without asking; `"ask"` (the default) asks where someone can answer:
a notebook frontend that can click (JupyterLab, Notebook, VS Code send `allow_stdin`), or
terminal IPython. A headless run (nbclient, papermill: no `allow_stdin`) or a plain script
cannot answer, so the code is denied and the model is told why.
"""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigurationError

APPROVE_MODES = ("ask", "auto", "deny")
POLL_SECONDS = 0.05  # how often a waiting cell looks for the click
HEADLESS = (
    "Nobody can click Approve here (a headless run with no notebook frontend), so the code "
    'was not run. Set approve = "auto" (config, %kimi config, or --approve auto) to let '
    "run_python run without asking."
)
NO_SHELL = (
    "There is no notebook or IPython terminal to ask for approval, so the code was not run. "
    'Set approve = "auto" to let run_python run without asking.'
)


@dataclass(frozen=True)
class Decision:
    approved: bool
    reason: str = ""  # said to the model (and shown) when the run is denied


Approver = Callable[[str], Decision]


def approver_for(mode: str, wait_seconds: float | None = None) -> Approver:
    """The approver for an `approve` setting: auto, deny, or ask the user."""
    if mode == "auto":
        return lambda code: Decision(True)
    if mode == "deny":
        return lambda code: Decision(False, 'approve is set to "deny": run_python never runs.')
    if mode != "ask":
        raise ConfigurationError(
            f"approve must be one of {', '.join(APPROVE_MODES)}, not {mode!r}."
        )
    return lambda code: ask(code, wait_seconds)


def ask(code: str, wait_seconds: float | None = None) -> Decision:
    """Ask whoever can answer here; deny, saying why, where nobody can."""
    shell = _shell()
    if shell is None:
        return Decision(False, NO_SHELL)
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return _ask_terminal(code)
    if not getattr(kernel, "_allow_stdin", False):
        return Decision(False, HEADLESS)
    return ask_with_buttons(code, wait_seconds)


def _shell() -> Any:
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()


def _ask_terminal(code: str) -> Decision:
    print(f"Kimi wants to run this code in your namespace:\n\n{code}\n")
    try:
        answer = input("Run it? [y/N] ").strip().lower()
    except (EOFError, OSError):  # no terminal to read from (stdin closed or captured)
        return Decision(False, NO_SHELL)
    if answer in ("y", "yes"):
        return Decision(True)
    return Decision(False, "The user denied running this code.")


def ask_with_buttons(code: str, wait_seconds: float | None = None) -> Decision:
    """Show the code with Approve / Deny and wait for a click (handled while the cell runs).

    An interrupt while waiting denies and is raised; with `wait_seconds` set, no click in
    time denies.
    """
    import ipywidgets as widgets
    from IPython.display import display

    from ..render.ui_events import process_ui_events

    chosen: list[bool] = []
    approve = widgets.Button(description="Approve", button_style="success", icon="play")
    deny = widgets.Button(description="Deny", button_style="danger", icon="times")
    approve.on_click(lambda _: chosen.append(True))
    deny.on_click(lambda _: chosen.append(False))
    code_view = widgets.HTML(
        "<b>Kimi wants to run this code in your namespace:</b>"
        f"<pre style='max-height:24em;overflow:auto'>{html.escape(code)}</pre>"
    )
    box = widgets.VBox([code_view, widgets.HBox([approve, deny])])
    box.add_class("kimi-approval")
    # A display handle outside any Output widget: it can be replaced by static text after.
    handle = display(box, display_id=True)
    deadline = None if wait_seconds is None else time.monotonic() + wait_seconds
    try:
        while not chosen:
            process_ui_events()
            if deadline is not None and time.monotonic() > deadline:
                chosen.append(False)
                break
            time.sleep(POLL_SECONDS)
    finally:
        approved = bool(chosen and chosen[0])
        verdict = "run_python: approved" if approved else "run_python: denied"
        # Static text in place of the widgets: a saved notebook keeps no widget state.
        if handle is not None:
            handle.update({"text/markdown": f"*{verdict}*", "text/plain": verdict}, raw=True)
        for widget in (approve, deny, code_view, box.children[1], box):
            widget.close()
    if approved:
        return Decision(True)
    late = deadline is not None and time.monotonic() > deadline
    return Decision(
        False, "Nobody answered in time." if late else "The user denied running this code."
    )
