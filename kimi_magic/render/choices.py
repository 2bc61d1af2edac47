"""`n > 1`: the choices side by side as tabs while they stream, static markdown at the end."""

from __future__ import annotations

import time
from typing import Any

from ..api.client import AnswerStream
from ..core.constants import MAX_UPDATES_PER_SECOND
from ..core.errors import KimiError, StreamError
from ..core.types import Answer, TextDelta
from .display import Shown, in_kernel
from .final_output import METADATA_KEY, footer_line, provenance, status_note

_MIN_INTERVAL_S = 1.0 / MAX_UPDATES_PER_SECOND  # design.md section 3


def choices_markdown(answer: Answer, error: str | None = None) -> str:
    """Each choice under its own heading, then one footer for the whole call."""
    texts = answer.choices or [answer.text]
    parts = [
        f"#### Choice {i + 1} of {len(texts)}\n\n{text.strip()}\n" for i, text in enumerate(texts)
    ]
    note = status_note(answer, error)
    if note:
        parts.append(note + "\n")
    parts.append(f"<sub>{footer_line(answer)}</sub>\n")
    return "\n".join(parts)


def _finish(handle: object, answer: Answer, kind: str | None, error: str | None) -> None:
    from IPython.display import display

    markdown = choices_markdown(answer, error)
    data = {"text/markdown": markdown, "text/plain": markdown}
    metadata = {METADATA_KEY: provenance(answer, kind)}
    if handle is None:
        display(data, raw=True, metadata=metadata)
    else:
        handle.update(data, raw=True, metadata=metadata)  # type: ignore[attr-defined]


def show_choices(events: AnswerStream, n: int, endpoint_kind: str | None = None) -> Shown:
    """Stream `n` choices into tabs (a kernel) or collect them (elsewhere), then show markdown."""
    if not in_kernel():
        return _collect(events, endpoint_kind)
    import ipywidgets as widgets
    from IPython.display import display

    panes = [widgets.Output() for _ in range(n)]
    pieces: list[list[str]] = [[] for _ in range(n)]
    shown = [0] * n  # pieces already on screen per choice: only changed tabs are re-sent
    tabs = widgets.Tab(children=panes, titles=tuple(f"Choice {i + 1}" for i in range(n)))
    handle = display(tabs, display_id=True)
    last = 0.0
    error: StreamError | None = None
    try:
        try:
            for event in events:
                if isinstance(event, TextDelta) and event.choice < n:
                    pieces[event.choice].append(event.text)
                if time.perf_counter() - last >= _MIN_INTERVAL_S:
                    last = time.perf_counter()
                    _render(panes, pieces, shown)
        except StreamError as caught:
            error = caught
        answer = error.answer if error is not None and error.answer else events.answer
        _finish(handle, answer, endpoint_kind, str(error) if error else None)
        return Shown(answer, error)
    except KeyboardInterrupt:
        _finish(handle, events.answer, endpoint_kind, None)
        return Shown(events.answer, keyboard_interrupt=True)
    except KimiError as caught:
        handle.update({"text/plain": ""}, raw=True)  # leave no empty tabs behind
        return Shown(events.answer, caught)
    finally:
        _close(tabs, panes)  # after the slot shows the markdown, as the live view does


def _render(panes: list[Any], pieces: list[list[str]], shown: list[int]) -> None:
    for i, (pane, texts) in enumerate(zip(panes, pieces, strict=True)):
        if len(texts) == shown[i]:
            continue
        shown[i] = len(texts)
        # Rendered by the frontend's markdown renderer, like the single-answer view.
        pane.outputs = (
            {
                "output_type": "display_data",
                "data": {"text/markdown": "".join(texts)},
                "metadata": {},
            },
        )


def _close(tabs: Any, panes: list[Any]) -> None:
    from .live_view import close_widget

    for widget in (*panes, tabs):
        close_widget(widget)


def _collect(events: AnswerStream, endpoint_kind: str | None) -> Shown:
    try:
        events.until_done()
    except KeyboardInterrupt:
        return Shown(events.answer, keyboard_interrupt=True)
    except StreamError as error:
        _finish(None, error.answer or events.answer, endpoint_kind, str(error))
        return Shown(error.answer or events.answer, error)
    except KimiError as error:
        return Shown(events.answer, error)
    _finish(None, events.answer, endpoint_kind, None)
    return Shown(events.answer)
