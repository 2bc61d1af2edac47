"""Drives a renderer from a stream of events: the widget view in a kernel, stdout elsewhere."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from ..api.client import AnswerStream
from ..core.constants import MAX_UPDATES_PER_SECOND
from ..core.errors import KimiError, StreamError
from ..core.types import Answer, ReasoningDelta, Retrying, StreamEvent, TextDelta

_END = object()


@dataclass
class Shown:
    """How showing an answer ended: the answer, and why it is partial if it is."""

    answer: Answer
    error: KimiError | None = None
    keyboard_interrupt: bool = False


def in_kernel() -> bool:
    """True inside a Jupyter kernel, where widgets render."""
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def show_stream(events: AnswerStream, endpoint_kind: str | None = None) -> Shown:
    """Stream the answer into one display slot and leave the static markdown there."""
    if not in_kernel():
        from .render_text import stream_to_stdout

        try:
            return Shown(stream_to_stdout(events))
        except KeyboardInterrupt:
            return Shown(events.answer, keyboard_interrupt=True)
        except StreamError as error:
            return Shown(error.answer or events.answer, error)
        except KimiError as error:
            return Shown(events.answer, error)

    from .live_view import LiveView
    from .ui_events import process_ui_events

    view = LiveView()
    view.show()
    try:
        for event in with_ticks(events):
            if event is None:
                pass  # no news: still re-render the clock and look for a Stop click
            elif isinstance(event, TextDelta) and event.choice == 0:
                view.add_text(event.text)
            elif isinstance(event, ReasoningDelta) and event.choice == 0:
                view.add_reasoning(event.text)
            elif isinstance(event, Retrying):
                view.show_retrying(event)
            if view.due():
                view.render(events.usage)  # events.answer is the reader thread's to build
                process_ui_events()  # lets a Stop click reach us mid-cell
                if view.stop_requested:
                    events.stop()
                    break
    except KeyboardInterrupt:
        view.finish(events.answer, endpoint_kind)
        return Shown(events.answer, keyboard_interrupt=True)
    except StreamError as error:
        view.finish(error.answer or events.answer, endpoint_kind, error=str(error))
        return Shown(error.answer or events.answer, error)
    except KimiError as error:
        view.discard()
        return Shown(events.answer, error)
    except BaseException:
        view.discard()
        raise
    view.finish(events.answer, endpoint_kind)
    return Shown(events.answer)


def with_ticks(events: AnswerStream) -> Iterator[StreamEvent | None]:
    """The events, read from the network on a helper thread, with `None` whenever none came
    for a tick: so the main thread can take a Stop click while the model is silent (a long
    wait for the first token) and a kernel interrupt lands here, not inside a socket read."""
    arrived: queue.SimpleQueue[object] = queue.SimpleQueue()

    def read() -> None:
        try:
            for event in events:
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
            # headers is closed by the reader as soon as they come (see AnswerStream.stop).
            events.stop()
            reader.join(timeout=0.5)
