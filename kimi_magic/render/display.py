"""Drives a renderer from a call's events: the widget view where a frontend shows widgets,
the plain text view in other kernels (nbclient, nbconvert, papermill), stdout elsewhere.

However the stream ends, the call records it (`call.answer.ended`, `call.error`); the views
only show it. One slot per answer: the live view while it streams, the static markdown after,
and nothing left behind when the call failed before any of the answer arrived.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..core.call import Call
from ..core.errors import KimiError
from ..core.types import ReasoningDelta, Retrying, StreamEvent, TextDelta
from .frontend import in_kernel, show_markdown, widgets_render

_END = object()
# How often the main thread looks for a Stop click sent to it (frontends without kernel
# subshells); a click that comes through a subshell is seen at the next render anyway.
UI_POLL_INTERVAL_S = 0.2


def show_notes(call: Call) -> None:
    """The call's notes (history trimmed, a deprecated parameter) above the answer."""
    for note in call.notes:
        show_markdown(f"<small>{note}</small>", plain=note)


class AnswerSlot:
    """One answer's place in the output: notes, then tabs for n > 1, the live view in a
    kernel (widgets where they render, else display-id updates), or stdout elsewhere;
    `stream()` shows the call as it arrives, `end()` leaves the static answer (with the context
    gauge) in its place.

    >>> slot = AnswerSlot(call); interrupted = slot.stream(); session.finish(turn); slot.end(gauge)
    """

    def __init__(self, call: Call, n: int = 1) -> None:
        self.call = call
        self.n = n
        self.view: Any = None
        show_notes(call)
        if n == 1 and in_kernel():
            if widgets_render():
                from .live_view import LiveView

                self.view = LiveView()
            else:
                from .text_view import TextView

                self.view = TextView()
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

    def end(self, context: str = "", keep_error: bool = False, problem: str = "") -> None:
        """The static answer replaces the live view; `context` is the gauge line for the
        footer. A call that failed before any of the answer arrived leaves nothing (the magic
        raises its error), or with `keep_error` (a background answer) the error paragraph;
        `problem` (a background answer that could not be stored) is said under the answer."""
        if self.view is not None:
            if problem:
                self.view.end(self.call, context, keep_error, problem)
            else:  # the n > 1 view takes no problem (a background answer has one choice)
                self.view.end(self.call, context, keep_error)
        elif self.n == 1:
            from .render_text import print_footer

            print_footer(self.call, context)
            if problem:
                sys.stdout.write(f"⚠ {problem}\n")  # stdout is this slot's output here
        if self.call.answer.logprobs and not keep_error:  # a background thread has no cell
            from .logprobs import show_logprobs

            show_logprobs(self.call.answer.logprobs)

    def republish(self) -> None:
        """Publish the static answer again from the cell that runs now (`%kimi wait`): a
        headless client reads only that cell's messages, and updates the slot by its id."""
        republish = getattr(self.view, "republish", None)
        if republish is not None:
            republish()


def pump(call: Call, view: Any) -> None:
    """Feed the view from the call until it ends or Stop is clicked; raises what the stream
    raised (our errors, a KeyboardInterrupt)."""
    from .ui_events import process_ui_events

    polled = 0.0
    for batch in batches(call, view.until_due):
        for event in batch:
            if isinstance(event, TextDelta) and event.choice == 0:
                view.add_text(event.text)
            elif isinstance(event, ReasoningDelta) and event.choice == 0:
                view.add_reasoning(event.text)
            elif isinstance(event, Retrying):
                view.show_retrying(event)
        # An empty batch is a tick: the clock still moves and a Stop click is looked for.
        view.render(call.usage)  # call.answer is the reader thread's to build
        now = time.monotonic()
        if now - polled >= UI_POLL_INTERVAL_S:
            polled = now
            process_ui_events()  # lets a Stop click reach us mid-cell (see ui_events.py)
        if view.stop_requested:
            call.stop()
            return


class _Mailbox:
    """Events handed from the reader thread to the main thread, taken all at once."""

    def __init__(self) -> None:
        self._items: list[object] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()

    def put(self, item: object) -> None:
        with self._lock:
            self._items.append(item)
            # Set once per take, not per event: Event.set takes a lock and notifies each time.
            if not self._ready.is_set():
                self._ready.set()

    def take(self, timeout: float) -> list[object]:
        self._ready.wait(timeout)
        with self._lock:
            items, self._items = self._items, []
            self._ready.clear()
        return items


def batches(call: Call, until_due: Callable[[], float]) -> Iterator[list[StreamEvent]]:
    """The events, read from the network on a helper thread, in batches: one per render at
    most, and an empty one each tick when none came. So the main thread wakes about as often
    as the view can change, not once per token; it can take a Stop click while the model is
    silent; and a kernel interrupt lands here, not inside a socket read."""
    mailbox = _Mailbox()

    def read() -> None:
        try:
            for event in call:
                mailbox.put(event)
        except BaseException as error:  # handed to the main thread, raised there
            mailbox.put(error)
        mailbox.put(_END)

    reader = threading.Thread(target=read, name="kimi-magic-stream", daemon=True)
    reader.start()
    # Events wake the main thread at once; with none, it wakes only to move the footer's
    # clock and look for a Stop click, which need no more than this.
    tick = UI_POLL_INTERVAL_S
    try:
        while True:
            wait = until_due()
            if wait > 0:
                time.sleep(wait)  # the view cannot show more before then: let events gather
            items = mailbox.take(timeout=tick)
            events: list[StreamEvent] = []
            for item in items:
                if item is _END:
                    yield events
                    return
                if isinstance(item, BaseException):
                    if events:
                        yield events
                    raise item
                events.append(item)  # type: ignore[arg-type]
            yield events
    finally:
        if reader.is_alive():
            # Closing the response ends the reader's read; a request still waiting for its
            # headers is closed by the reader as soon as they come (see Call.stop).
            call.stop()
            reader.join(timeout=0.5)
