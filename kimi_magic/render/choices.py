"""`n > 1`: the choices side by side as tabs while they stream, static markdown at the end."""

from __future__ import annotations

import time
from typing import Any

from ..core.answer import Answer, footer_line, status_note
from ..core.call import Call
from ..core.constants import MAX_UPDATES_PER_SECOND
from ..core.errors import KimiError
from ..core.types import TextDelta
from .final_output import METADATA_KEY, provenance
from .frontend import widgets_render

_MIN_INTERVAL_S = 1.0 / MAX_UPDATES_PER_SECOND  # docs/design.md section 3


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


class ChoicesView:
    """How `n` choices were shown: their tabs' slot (None outside a kernel), and whether a
    keyboard interrupt ended them."""

    def __init__(self, handle: object, interrupted: bool) -> None:
        self.handle = handle
        self.interrupted = interrupted

    def end(self, call: Call, context: str = "", keep_error: bool = False) -> None:
        answer = call.answer
        if call.error is not None and not answer.text and not answer.choices:
            if self.handle is not None:  # leave no empty tabs behind
                self.handle.update({"text/plain": ""}, raw=True)  # type: ignore[attr-defined]
            return
        _finish(self.handle, answer, call.endpoint_kind, str(call.error) if call.error else None)

    def discard(self) -> None:
        if self.handle is not None:
            self.handle.update({"text/plain": ""}, raw=True)  # type: ignore[attr-defined]


def stream_choices(call: Call, n: int) -> ChoicesView:
    """Stream `n` choices into tabs (where widgets render) or collect them (elsewhere)."""
    if not widgets_render():
        try:
            call.result()
        except KeyboardInterrupt:
            return ChoicesView(None, True)
        except KimiError:
            pass  # recorded in the call
        return ChoicesView(None, False)
    import ipywidgets as widgets
    from IPython.display import display

    panes = [widgets.Output() for _ in range(n)]
    pieces: list[list[str]] = [[] for _ in range(n)]
    shown = [0] * n  # pieces already on screen per choice: only changed tabs are re-sent
    tabs = widgets.Tab(children=panes, titles=tuple(f"Choice {i + 1}" for i in range(n)))
    handle = display(tabs, display_id=True)
    last = 0.0
    try:
        for event in call:
            if isinstance(event, TextDelta) and event.choice < n:
                pieces[event.choice].append(event.text)
            if time.perf_counter() - last >= _MIN_INTERVAL_S:
                last = time.perf_counter()
                _render(panes, pieces, shown)
        _render(panes, pieces, shown)  # the last burst, before the markdown replaces the tabs
    except KeyboardInterrupt:
        return ChoicesView(handle, True)
    except KimiError:
        pass  # recorded in the call
    finally:
        _close(tabs, panes)  # the slot shows the markdown next, as the live view does
    return ChoicesView(handle, False)


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
