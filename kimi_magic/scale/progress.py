"""Progress of a job: an ipywidgets bar with a Stop button where a frontend shows widgets, a
markdown line updated in place in other kernels (nbconvert, papermill), a text line in a
terminal, nothing when asked. Redrawn a few times a second, never per item."""

from __future__ import annotations

import html
import sys
import threading
import time
from typing import Any, TextIO

from .state import JobState, as_markdown

WIDGET_UPDATES_PER_SECOND = 4
TEXT_UPDATES_PER_SECOND = 1


class NoProgress:
    """progress=False: nothing is drawn; Stop is still possible from another thread."""

    def __init__(self) -> None:
        self.stop_requested = threading.Event()
        self.note = ""  # shown from the start: the job's estimate

    def show(self, state: JobState) -> None:
        """Nothing to show."""

    def tick(self, state: JobState) -> bool:
        return self.stop_requested.is_set()

    def close(self, state: JobState, summary: str = "") -> None:
        """Nothing to close."""


class TextProgress(NoProgress):
    """One line on stderr, rewritten in place on a terminal, once a second."""

    def __init__(self, out: TextIO | None = None) -> None:
        super().__init__()
        self.out = out or sys.stderr
        self._last = 0.0

    def tick(self, state: JobState) -> bool:
        now = time.monotonic()
        if now - self._last >= 1 / TEXT_UPDATES_PER_SECOND:
            self._last = now
            self._write(state.line(), end="\r" if self.out.isatty() else "\n")
        return self.stop_requested.is_set()

    def show(self, state: JobState) -> None:
        if self.note:
            self._write(self.note, end="\n")

    def close(self, state: JobState, summary: str = "") -> None:
        self._write(summary or state.line(), end="\n")

    def _write(self, text: str, end: str) -> None:
        self.out.write(("\r\033[K" if self.out.isatty() else "") + text + end)
        self.out.flush()


def _summary(text: str) -> dict[str, str]:
    return {
        "text/plain": "kimi map: " + text,
        "text/markdown": "**kimi map:** " + as_markdown(text),
    }


class DisplayProgress(NoProgress):
    """The counts line in one display slot, updated in place: no widgets (design.md §9)."""

    def __init__(self) -> None:
        super().__init__()
        self._handle: Any = None
        self._last = 0.0

    def show(self, state: JobState) -> None:
        from IPython.display import display

        self._handle = display(self._shown(state), raw=True, display_id=True)

    def tick(self, state: JobState) -> bool:
        now = time.monotonic()
        if now - self._last >= 1 / TEXT_UPDATES_PER_SECOND and self._handle is not None:
            self._last = now
            self._handle.update(self._shown(state), raw=True)
        return self.stop_requested.is_set()

    def close(self, state: JobState, summary: str = "") -> None:
        if self._handle is not None:
            self._handle.update(_summary(summary or state.line()), raw=True)

    def _shown(self, state: JobState) -> dict[str, str]:
        return _summary(state.line() + (f"\n{self.note}" if self.note else ""))


class WidgetProgress(NoProgress):
    """A bar, the counts line and a Stop button; a Stop click is read between results."""

    def __init__(self) -> None:
        super().__init__()
        import ipywidgets as widgets

        self._bar = widgets.IntProgress(value=0, min=0, max=1, description="kimi map")
        self._label = widgets.HTML()
        self._stop = widgets.Button(description="Stop", button_style="warning", icon="stop")
        self._stop.on_click(lambda _: self.stop_requested.set())
        self.box = widgets.HBox([self._bar, self._stop, self._label])
        self._handle: Any = None
        self._last = 0.0

    def show(self, state: JobState) -> None:
        from IPython.display import display

        self._draw(state)
        self._handle = display(self.box, display_id=True)

    def tick(self, state: JobState) -> bool:
        from ..render.ui_events import process_ui_events

        process_ui_events()  # a Stop click arrives while the cell runs
        now = time.monotonic()
        if now - self._last >= 1 / WIDGET_UPDATES_PER_SECOND:
            self._last = now
            self._draw(state)
        return self.stop_requested.is_set()

    def close(self, state: JobState, summary: str = "") -> None:
        self._draw(state)
        self._stop.disabled = True
        if self._handle is not None:
            # A saved notebook keeps the summary, not a widget that needs a live kernel.
            self._handle.update(_summary(summary or state.line()), raw=True)
        for widget in (self._bar, self._label, self._stop, self.box):
            widget.close()

    def _draw(self, state: JobState) -> None:
        total = state.total or max(state.finished, 1)
        self._bar.max = max(total, 1)
        self._bar.value = min(state.finished, self._bar.max)
        note = f"<br>{html.escape(self.note)}" if self.note else ""
        self._label.value = f"<small>{html.escape(state.line())}{note}</small>"
        if state.stopped:
            self._bar.bar_style = "warning"
        elif state.total is not None and state.finished >= state.total:
            self._bar.bar_style = "danger" if state.failed else "success"


def progress_view(progress: bool | NoProgress) -> NoProgress:
    """The view for `progress=`: True picks a widget where widgets render, a display slot in
    other kernels, text elsewhere."""
    if isinstance(progress, NoProgress):
        return progress
    if not progress:
        return NoProgress()
    from ..render.frontend import in_kernel, widgets_render

    if widgets_render():
        return WidgetProgress()
    return DisplayProgress() if in_kernel() else TextProgress()
