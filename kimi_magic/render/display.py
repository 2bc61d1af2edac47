"""Drives a renderer from a call's events: the widget view in a kernel, stdout elsewhere.

However the stream ends, the call records it (`call.answer.ended`, `call.error`); the views
only show it. One slot per answer: the live view while it streams, the static markdown after,
and nothing left behind when the call failed before any of the answer arrived.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from ..core.call import Call
from ..core.constants import MAX_UPDATES_PER_SECOND
from ..core.errors import KimiError
from ..core.types import ReasoningDelta, StreamEvent, TextDelta
from .frontend import in_kernel, show_markdown

_END = object()


def show_notes(call: Call) -> None:
    """The call's notes (history trimmed, a deprecated parameter) above the answer."""
    for note in call.notes:
        show_markdown(f"<small>{note}</small>", plain=note)


class AnswerSlot:
    """One answer's place in the output: notes, then tabs for n > 1, the live view in a
    kernel, or stdout elsewhere; `stream()` shows the call as it arrives, `end()` leaves the
    static answer (with the context gauge) in its place.

    >>> slot = AnswerSlot(call); interrupted = slot.stream(); session.finish(turn); slot.end(gauge)
    """

    def __init__(self, call: Call, n: int = 1) -> None:
        self.call = call
        self.n = n
        self.view: Any = None
        show_notes(call)
        if n == 1 and in_kernel():
            from .live_view import LiveView

            self.view = LiveView()
            self.view.show()

    def stream(self) -> bool:
        """Show the call until it ends; True when a keyboard interrupt ended it."""
        if self.n > 1:
            from .choices import stream_choices

            self.view = stream_choices(self.call, self.n)
            return self.view.interrupted
        try:
            if self.view is None:
                from .render_text import stream_to_stdout

                stream_to_stdout(self.call, footer=False)
            else:
                pump(self.call, self.view)
        except KeyboardInterrupt:
            self.call.stop()
            return True
        except KimiError:
            pass  # recorded in the call; the magic says it once
        except BaseException:
            if self.view is not None:
                self.view.discard()
            raise
        return False

    def end(self, context: str = "", keep_error: bool = False) -> None:
        """The static answer replaces the live view; `context` is the gauge line for the
        footer. A call that failed before any of the answer arrived leaves nothing (the magic
        raises its error), or with `keep_error` (a background answer) the error paragraph."""
        if self.view is not None:
            self.view.end(self.call, context, keep_error)
        elif self.n == 1:
            from .render_text import print_footer

            print_footer(self.call, context)
        if self.call.answer.logprobs and not keep_error:  # a background thread has no cell
            from .logprobs import show_logprobs

            show_logprobs(self.call.answer.logprobs)


def pump(call: Call, view: Any) -> None:
    """Feed the view from the call until it ends or Stop is clicked; raises what the stream
    raised (our errors, a KeyboardInterrupt)."""
    from .ui_events import process_ui_events

    for event in with_ticks(call):
        if event is None:
            pass  # no news: still re-render the clock and look for a Stop click
        elif isinstance(event, TextDelta) and event.choice == 0:
            view.add_text(event.text)
        elif isinstance(event, ReasoningDelta) and event.choice == 0:
            view.add_reasoning(event.text)
        if view.due():
            view.render(call.usage)  # call.answer is the reader thread's to build
            process_ui_events()  # lets a Stop click reach us mid-cell
            if view.stop_requested:
                call.stop()
                return


def with_ticks(call: Call) -> Iterator[StreamEvent | None]:
    """The events, read from the network on a helper thread, with `None` whenever none came
    for a tick: so the main thread can take a Stop click while the model is silent (a long
    wait for the first token) and a kernel interrupt lands here, not inside a socket read."""
    arrived: queue.SimpleQueue[object] = queue.SimpleQueue()

    def read() -> None:
        try:
            for event in call:
                arrived.put(event)
        except BaseException as error:  # handed to the main thread, raised there
            arrived.put(error)
        arrived.put(_END)

    reader = threading.Thread(target=read, name="kimi-magic-stream", daemon=True)
    reader.start()
    tick = 1.0 / MAX_UPDATES_PER_SECOND
    try:
        while True:
            try:
                item = arrived.get(timeout=tick)
            except queue.Empty:
                yield None
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        if reader.is_alive():
            # Closing the response ends the reader's read; a request still waiting for its
            # headers is closed by the reader as soon as they come (see Call.stop).
            call.stop()
            reader.join(timeout=0.5)
