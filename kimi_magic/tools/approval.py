"""Asking the user before code runs (run_python, and tools registered with `runs_code=True`):
Approve / Deny buttons in the cell's output, a prompt on the terminal, or a plain "no" where
nothing can answer.

`approve = "auto"` runs without asking; `"ask"` (the default) asks where someone can answer:
a notebook frontend that can click (JupyterLab, Notebook, VS Code send `allow_stdin`), a
console kernel client that shows no widgets (jupyter console, qtconsole: a prompt on its
stdin channel), or terminal IPython. A headless run (nbclient, papermill: no `allow_stdin`)
or a plain script cannot answer, so the code is denied and the model is told why. `"deny"`
runs no code at all.

The view shows the code once, exactly as it will run, with invisible and direction-changing
characters made visible (core/invisible.py). Buttons nobody clicks, and a terminal prompt
nobody answers, deny after `approve_timeout` seconds.
"""

from __future__ import annotations

import html
import json
import select
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigurationError
from ..core.invisible import hidden_warning, made_visible

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
RUN_CODE = "run this code in your namespace"  # what the view says Kimi wants to do
DENIED_BY_SETTING = (
    'approve is set to "deny": no code runs (run_python, or a tool registered with runs_code=True).'
)


def approver_for(
    mode: str, wait_seconds: float | None = None, name: str = "run_python"
) -> Approver:
    """The approver for an `approve` setting and the tool `name`: auto, deny, or ask the user
    (buttons deny after `wait_seconds` with no click)."""
    if mode == "auto":
        return lambda code: Decision(True)
    if mode == "deny":
        return lambda code: Decision(False, DENIED_BY_SETTING)
    if mode != "ask":
        raise ConfigurationError(
            f"approve must be one of {', '.join(APPROVE_MODES)}, not {mode!r}."
        )
    return lambda code: ask(code, wait_seconds, name)


def _subject(name: str) -> str:
    """What the view says Kimi wants to do (a registered tool's arguments are shown)."""
    if name == "run_python":
        return RUN_CODE
    return f"call {name}, a tool that runs code, with these arguments"


def arguments_text(arguments: object) -> str:
    """A code-running tool's arguments as the approval view shows them."""
    return json.dumps(arguments, indent=1, ensure_ascii=False, default=repr)


def ask(code: str, wait_seconds: float | None = None, name: str = "run_python") -> Decision:
    """Ask whoever can answer here; deny, saying why, where nobody can."""
    shell = _shell()
    if shell is None:
        return Decision(False, NO_SHELL)
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return _ask_terminal(code, name, wait_seconds)
    if not getattr(kernel, "_allow_stdin", False):
        return Decision(False, HEADLESS)
    from ..render.frontend import widgets_render

    if not widgets_render():  # a console (jupyter console, qtconsole): no buttons to click,
        return _ask_terminal(code, name)  # but input() reaches it through the stdin channel
    return ask_with_buttons(code, wait_seconds, name)


def shown_code(code: str) -> tuple[str, str]:
    """(the code with hidden characters marked, the warning line or '')."""
    visible, count = made_visible(code)
    return visible, hidden_warning(count)


def _shell() -> Any:
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()


def _ask_terminal(
    code: str, name: str = "run_python", wait_seconds: float | None = None
) -> Decision:
    visible, warning = shown_code(code)
    print(f"Kimi wants to {_subject(name)}:\n\n{visible}\n")
    if warning:
        print(warning)
    prompt = "Run it? [y/N] "
    try:
        if wait_seconds and _waitable(sys.stdin):
            answer = _line_within(prompt, wait_seconds)
            if answer is None:
                print(f"\n{name}: not answered within {wait_seconds:g} s (approve_timeout), denied")
                return Decision(False, timed_out(wait_seconds, "answered the prompt"))
        else:
            answer = input(prompt)
    except (EOFError, OSError):  # no terminal to read from (stdin closed or captured)
        return Decision(False, NO_SHELL)
    if answer.strip().lower() in ("y", "yes"):
        return Decision(True)
    return Decision(False, "The user denied running this code.")


def _waitable(stream: Any) -> bool:
    """A real terminal whose file descriptor `select` can wait on (not Windows, not a capture)."""
    try:
        return sys.platform != "win32" and stream.isatty() and stream.fileno() >= 0
    except (AttributeError, ValueError, OSError):
        return False


def _line_within(prompt: str, seconds: float) -> str | None:
    """One typed line, or None when nothing was typed within `seconds`. `input()` cannot time
    out, so this waits on the terminal with `select` and reads the line only once one is there
    (the terminal is in line mode while a cell runs, so the line arrives whole)."""
    sys.stdout.write(prompt)
    sys.stdout.flush()
    ready, _, _ = select.select([sys.stdin], [], [], seconds)
    if not ready:
        return None
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line


def ask_with_buttons(
    code: str, wait_seconds: float | None = None, name: str = "run_python"
) -> Decision:
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
    visible, warning = shown_code(code)
    warned = f"<div style='color:#b45309'><b>{html.escape(warning)}</b></div>" if warning else ""
    code_view = widgets.HTML(
        f"<b>Kimi wants to {html.escape(_subject(name))}:</b>{warned}"
        f"<pre style='max-height:24em;overflow:auto'>{html.escape(visible)}</pre>"
    )
    box = widgets.VBox([code_view, widgets.HBox([approve, deny])])
    box.add_class("kimi-approval")
    # A display handle outside any Output widget: it can be replaced by static text after.
    handle = display(box, display_id=True)
    deadline = None if wait_seconds is None else time.monotonic() + wait_seconds
    late = False
    try:
        while not chosen:
            process_ui_events()
            if deadline is not None and time.monotonic() > deadline:
                late = True
                break
            time.sleep(POLL_SECONDS)
    finally:
        approved = bool(chosen and chosen[0])
        verdict = f"{name}: approved" if approved else f"{name}: denied"
        if late:
            verdict = f"{name}: not approved within {wait_seconds:g} s (approve_timeout), denied"
        # Static text in place of the widgets: a saved notebook keeps no widget state.
        if handle is not None:
            handle.update({"text/markdown": f"*{verdict}*", "text/plain": verdict}, raw=True)
        for widget in (approve, deny, code_view, box.children[1], box):
            widget.close()
    if approved:
        return Decision(True)
    if late:
        return Decision(False, timed_out(wait_seconds or 0))
    return Decision(False, "The user denied running this code.")


def timed_out(seconds: float, what: str = "clicked Approve or Deny") -> str:
    """What the model reads when nobody answered in time."""
    return (
        f"nobody {what} within {seconds:g} s (approve_timeout): not approved "
        "in time, so the code was not run."
    )
