"""What kind of frontend the output goes to, and plain markdown output that reads well in
every one of them (a terminal gets the text/plain twin).

Widgets are used only where a widget frontend is known to be there. A kernel cannot ask, and
the one message widget frontends send by themselves (JupyterLab and Notebook 7 open a
`jupyter.widget.control` comm, falling back to a `comm_info_request`) comes when they connect,
before any cell ran, so an extension loaded later never sees it. So the kernel asks once: it
opens a comm to a target no frontend registers. JupyterLab, Notebook 7 (and any frontend built
on @jupyterlab/services) answer it with a `comm_close`; nbclient, and so nbconvert and
papermill, answer nothing (they log that no handler was found). JupyterLab and Notebook 7 also
say who they are in every cell's execute_request metadata, which nbclient leaves empty; that
is trusted first, since the probe's answer can be lost. Until an answer came, or where none
comes, answers stream as display-id updates of plain markdown, which every frontend shows;
headless clients then never see a widget (design.md section 9).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

PROBE_TARGET = "kimi_magic.frontend_probe"
# How long after the probe an answer waits for the frontend to say it is there. A browser
# answers within milliseconds; a headless client never does, and its first answer waits this
# long once per kernel.
PROBE_WAIT_S = 1.0
# The execute_request metadata JupyterLab and Notebook 7 (@jupyterlab/notebook) send with every
# cell, beside `cellId`; nbclient, and so nbconvert and papermill, send no metadata. Such a cell
# needs no probe: those frontends are the ones that close it. And the probe's answer can be
# lost: JupyterLab 4.6 sends the comm_close over a subshell it makes for the probe's target and
# deletes at once, and ipykernel 7 can drop a message still queued on a deleted subshell (seen
# under load: "Run All" right after %load_ext streamed the first answer as plain markdown).
NOTEBOOK_FRONTEND_KEYS = ("deletedCells", "recordTiming")
_POLL_S = 0.01


class _Probe:
    """The one probe of this kernel: sent once, answered (or not) once."""

    def __init__(self) -> None:
        self.answered = threading.Event()  # set from whatever thread handles the close
        self.sent_at: float | None = None
        self.comm: Any = None
        self.lock = threading.Lock()


_probe = _Probe()


def in_kernel() -> bool:
    """True inside a Jupyter kernel (a frontend shows rich output; widgets maybe)."""
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def probe_frontend() -> None:
    """Ask the frontend, once per kernel, whether it is an interactive one (no-op elsewhere)."""
    if not in_kernel():
        return
    with _probe.lock:
        if _probe.sent_at is not None:
            return
        from comm import create_comm

        _probe.sent_at = time.monotonic()
        # No "state" in the data: nbclient would save it as widget state.
        comm = create_comm(target_name=PROBE_TARGET, data={}, metadata={})
        comm.on_close(lambda _message: _probe.answered.set())
        _probe.comm = comm


def _widget_manager_connected() -> bool:
    """A widget manager opened the control comm (it connected after ipywidgets was imported)."""
    widgets = sys.modules.get("ipywidgets")
    widget = getattr(getattr(widgets, "widgets", None), "Widget", None)
    return getattr(widget, "_control_comm", None) is not None


def _sent_by_a_notebook_frontend() -> bool:
    """The running cell came from JupyterLab or Notebook 7 (see NOTEBOOK_FRONTEND_KEYS)."""
    from IPython import get_ipython

    kernel = getattr(get_ipython(), "kernel", None)
    try:
        parent = kernel.get_parent() if kernel is not None else None  # ipykernel >= 6
    except Exception:  # another kernel's API: no hint
        return False
    metadata = parent.get("metadata") if isinstance(parent, dict) else None
    return isinstance(metadata, dict) and any(key in metadata for key in NOTEBOOK_FRONTEND_KEYS)


def widgets_render() -> bool:
    """True when a frontend that shows widgets is known to be there.

    A cell JupyterLab or Notebook 7 sent says so itself. Otherwise the first call may wait up
    to PROBE_WAIT_S after the probe was sent, handling comm messages meanwhile (a cell is
    running: nothing else would read the answer)."""
    if not in_kernel():
        return False
    if _probe.answered.is_set() or _widget_manager_connected() or _sent_by_a_notebook_frontend():
        return True
    probe_frontend()
    from .ui_events import process_ui_events

    sent_at = _probe.sent_at
    if sent_at is None:  # no comm could be opened: no widget frontend to count on
        return False
    deadline = sent_at + PROBE_WAIT_S
    while not _probe.answered.is_set() and time.monotonic() < deadline:
        process_ui_events()  # the answer may wait on the main shell, behind this cell
        _probe.answered.wait(_POLL_S)
    return _probe.answered.is_set()


def show_markdown(text: str, plain: str | None = None) -> None:
    """Display markdown, with the same text (or `plain`) as text/plain so a terminal shows it."""
    from IPython.display import display

    display({"text/markdown": text, "text/plain": text if plain is None else plain}, raw=True)
