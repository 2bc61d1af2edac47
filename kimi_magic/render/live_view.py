"""The widget view of an answer while it streams (docs/design.md section 3).

One display slot per answer. Finished markdown blocks go out once and are never sent again;
only the open tail block is re-rendered, at most MAX_UPDATES_PER_SECOND times a second. So the
bytes sent for an answer of N characters stay a small multiple of N, not N squared.
"""

from __future__ import annotations

import functools
import html
import time
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from ..core.constants import MAX_UPDATES_PER_SECOND
from ..core.types import Retrying, Usage
from .final_output import MIME_MARKDOWN, FinalSlot
from .markdown_blocks import BlockSplitter
from .ui_events import watch_kernel_status

_MIN_INTERVAL_S = 1.0 / MAX_UPDATES_PER_SECOND
# Messages to the frontend a second, whatever they hold: each costs the kernel (capture,
# serialising, signing) and the browser (a re-measure and a markdown render) about the same,
# so an answer of many small blocks is bounded by this, not by its number of blocks.
_MESSAGES_PER_SECOND = 6
# A long open block (a big code block or table) is re-sent only when it has grown by this
# share of its size, or after _TAIL_MAX_WAIT_S, so its cost stays linear in its length.
_TAIL_GROWTH_SHARE = 0.5
_TAIL_MAX_WAIT_S = 0.5
_FOOTER_INTERVAL_S = 1.0


@functools.cache
def keep_widget_comms_open() -> widgets.Widget:
    """One widget model left open for the kernel's life, never displayed.

    JupyterLab 4.6 sends widget messages over a kernel subshell per comm target and deletes that
    subshell when the target's last comm closes: after every answer, since the live view closes
    all its widgets. ipykernel 7 then can drop a message still queued there and print "Task was
    destroyed but it is pending!" into the running cell (seen in tests/browser). One open comm
    keeps the subshell, and spares starting a subshell thread per answer.
    """
    return widgets.Widget()


def close_widget(widget: widgets.Widget) -> None:
    """Close a widget and the layout and style models ipywidgets made for it."""
    for part in (getattr(widget, "layout", None), getattr(widget, "style", None)):
        if isinstance(part, widgets.Widget):
            part.close()
    widget.close()


def _markdown_output(text: str) -> tuple[dict[str, Any], ...]:
    # Rendered by the frontend's own markdown renderer: tables, highlighting, LaTeX.
    return ({"output_type": "display_data", "data": {MIME_MARKDOWN: text}, "metadata": {}},)


class Capture:
    """Which Output widget the frozen blocks are displayed into: one at a time, switched only
    when reasoning gives way to the answer. Entering an Output is what `with output:` does;
    doing it per block would cost two widget messages a block (half the bytes of a long
    answer), so the capture stays on until the other stream or the end takes it."""

    def __init__(self) -> None:
        self.active: widgets.Output | None = None

    def into(self, output: widgets.Output) -> None:
        if self.active is not output:
            self.release()
            output.__enter__()
            self.active = output

    def release(self) -> None:
        if self.active is not None:
            self.active.__exit__(None, None, None)
            self.active = None


class MarkdownStream:
    """Frozen markdown blocks above one live tail block.

    A finished block is displayed once into the `frozen` Output (the frontend appends it; the
    kernel never sends it again); the open tail block is re-sent into the `tail` Output.
    """

    def __init__(self, capture: Capture, layout: widgets.Layout) -> None:
        self._splitter = BlockSplitter()
        self._pending: list[str] = []
        self._capture = capture
        self._frozen = widgets.Output(layout=layout)
        self._tail = widgets.Output(layout=layout)
        self._shown_tail = ""
        self._tail_sent_at = 0.0
        self.box = widgets.VBox([self._frozen, self._tail], layout=layout)
        self.has_text = False

    def append(self, text: str) -> None:
        self._pending.append(text)
        self.has_text = True

    @property
    def pending(self) -> bool:
        """Text arrived since the last render."""
        return bool(self._pending)

    def render(self, final: bool = False) -> int:
        """Show what arrived; returns how many messages that sent to the frontend."""
        text = "".join(self._pending)
        self._pending.clear()
        finished = self._splitter.feed(text)
        if final:
            finished += self._splitter.close()
        sent = 0
        if finished:
            self._capture.into(self._frozen)
            # The blocks finished since the last render as one output: a message costs the
            # kernel and the browser about the same whatever it holds, and an answer of many
            # small blocks would otherwise send one per block.
            display({MIME_MARKDOWN: "\n\n".join(finished)}, raw=True)
            sent += 1
        tail = "" if final else self._splitter.tail
        if tail != self._shown_tail and (finished or self._tail_due(tail)):
            self._tail.outputs = _markdown_output(tail) if tail else ()
            self._shown_tail = tail
            self._tail_sent_at = time.perf_counter()
            sent += 1
        return sent

    def _tail_due(self, tail: str) -> bool:
        grown = len(tail) - len(self._shown_tail)
        return (
            grown >= _TAIL_GROWTH_SHARE * len(self._shown_tail)
            or time.perf_counter() - self._tail_sent_at >= _TAIL_MAX_WAIT_S
        )

    def close(self) -> None:
        for widget in (self._frozen, self._tail, self.box):
            close_widget(widget)


class LiveView(FinalSlot):
    """Reasoning (folds when the answer starts), answer, footer and a Stop button."""

    def __init__(self) -> None:
        super().__init__()
        # One layout model shared by the plain boxes: each widget would otherwise open its own.
        plain = widgets.Layout()
        self._capture = Capture()
        self.reasoning = MarkdownStream(self._capture, plain)
        self.answer = MarkdownStream(self._capture, plain)
        self.thinking = widgets.Accordion(children=[self.reasoning.box], titles=("Thinking…",))
        self.thinking.layout.display = "none"
        self.footer = widgets.HTML("<small>waiting for the first token…</small>", layout=plain)
        self.stop_button = widgets.Button(
            description="Stop", icon="stop", layout=widgets.Layout(width="auto")
        )
        self.stop_button.on_click(self._on_stop)
        self.stop_requested = False
        bar = widgets.HBox(
            [self.stop_button, self.footer], layout=widgets.Layout(align_items="center")
        )
        self._bar_parts = (bar,)
        self.root = widgets.VBox([self.thinking, self.answer.box, bar], layout=plain)
        self._next_render = 0.0
        self._footer_at = 0.0
        self._phase = ""
        self._started = time.perf_counter()
        self._retrying: tuple[Retrying, float] | None = None  # the wait under way, since when

    def show(self) -> None:
        keep_widget_comms_open()
        watch_kernel_status()  # before the frontend's subshell request this display causes
        # The handle is outside any Output widget, where updating it works.
        self.handle = display(self.root, display_id=True)

    def _on_stop(self, _button: widgets.Button) -> None:
        self.stop_requested = True
        self.stop_button.disabled = True
        self.stop_button.description = "Stopping…"

    def add_reasoning(self, text: str) -> None:
        if not self.reasoning.has_text:
            self.thinking.layout.display = None
            self.thinking.selected_index = 0
        self.reasoning.append(text)

    def add_text(self, text: str) -> None:
        if not self.answer.has_text and self.reasoning.has_text:
            self.reasoning.render(final=True)
            self.thinking.selected_index = None  # fold the reasoning away
            self.thinking.set_title(0, f"Thought for {time.perf_counter() - self._started:.1f} s")
        self.answer.append(text)

    def show_retrying(self, event: Retrying) -> None:
        """Say at once that the call waits to be retried, and why (the footer counts down)."""
        self._retrying = (event, time.perf_counter())
        self._footer_at = 0.0  # re-render the footer now
        self.footer.value = f"<small>{html.escape(event.describe())}</small>"

    def _retry_text(self, now: float) -> str | None:
        if self._retrying is None:
            return None
        event, since = self._retrying
        left = event.delay - (now - since)
        if left <= 0:
            return f"{event.reason}: attempt {event.attempt} of {event.of} sent, waiting…"
        return f"{event.reason}: retrying in {left:.0f} s, attempt {event.attempt} of {event.of}"

    def until_due(self) -> float:
        """Seconds until the view may show new text again (0: now); a tick that showed none
        does not count, so the first text after a silence shows at once."""
        return max(0.0, self._next_render - time.perf_counter())

    def render(self, usage: Usage) -> None:
        now = time.perf_counter()
        shows = self.reasoning.pending or self.answer.pending
        sent = self.reasoning.render() + self.answer.render()
        if shows:
            # A budget of messages, not of renders: a render that froze blocks and moved the
            # tail sent two, and the next waits twice as long.
            self._next_render = now + max(_MIN_INTERVAL_S, sent / _MESSAGES_PER_SECOND)
        phase = (
            "answering"
            if self.answer.has_text
            else "thinking"
            if self.reasoning.has_text
            else "waiting"
        )
        # The footer is a clock: once a second is enough, and a phase change shows at once.
        if phase != self._phase or now - self._footer_at >= _FOOTER_INTERVAL_S:
            self._phase, self._footer_at = phase, now
            elapsed = now - self._started
            tokens = usage.completion_tokens
            counted = f" · {tokens:,} tokens" if tokens else ""
            retry = self._retry_text(now) if phase == "waiting" else None
            text = retry or f"{phase}… {elapsed:.0f} s{counted}"
            self.footer.value = f"<small>{html.escape(text)}</small>"

    def _replace(self, data: dict[str, str], metadata: dict[str, Any]) -> None:
        self._capture.release()  # the final update must reach the slot, not a frozen Output
        super()._replace(data, metadata)

    def close(self) -> None:
        self._capture.release()
        self.reasoning.close()
        self.answer.close()
        for widget in (self.thinking, self.footer, self.stop_button, *self._bar_parts, self.root):
            close_widget(widget)
