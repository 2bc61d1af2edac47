"""One call: it streams once, buffers what arrived, and afterwards is the record.

Iterating a `Call` pulls events from its source (the HTTP client, or a cached replay) the first
time and replays the buffer after that, like llm's `Response`. `call.answer` is the record:
text, reasoning, tool calls, usage, cost, timings, request id, and how it ended. The source is
injected, so this module knows nothing of HTTP and renderers can take a Call without httpx.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .answer import Answer
from .errors import KimiError, StreamError
from .types import (
    Finish,
    LogprobsDelta,
    ReasoningDelta,
    ResponseStarted,
    Retrying,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageReport,
)

Source = Callable[["Call"], Iterator[StreamEvent]]

# How long stop() waits for the reader thread to finish the record once the response is
# closed (the read ends at once); past it, stop() finishes the record under its lock.
STOP_WAIT_S = 1.0


class Call:
    """The events and the record of one request.

    >>> with client.stream(messages) as call:
    ...     for event in call: ...
    ...     call.answer.text, call.answer.ended
    """

    def __init__(
        self,
        body: dict[str, Any],
        source: Source,
        *,
        session_id: str | None = None,
        url: str = "",
        endpoint_kind: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.body = body
        self.session_id = session_id
        # Per-call headers for an AI Gateway (cf-aig-metadata, cache and log choices).
        self.headers = dict(headers or {})
        self.url = url
        self.endpoint_kind = endpoint_kind
        self.events: list[StreamEvent] = []
        self.error: KimiError | None = None
        self.attempts = 0
        self.notes: list[str] = []  # shown above the answer (history trimmed, deprecations)
        self._source = source
        self._consumed = False
        # Only the thread reading the source finishes the record; stop() asks it to and waits.
        self._reader: threading.Thread | None = None
        self._read_done = threading.Event()
        self._handoff = threading.Lock()
        self._stop = threading.Event()
        self._closers: list[Callable[[], None]] = []
        self._record = _Record(parameters={k: v for k, v in body.items() if k != "messages"})

    # -- state readable from any thread -----------------------------------------------------

    @property
    def stopped(self) -> bool:
        """True once `stop()` was called (from any thread)."""
        return self._stop.is_set()

    @property
    def usage(self) -> Usage:
        """The last usage report so far; safe to read while another thread iterates."""
        return self._record.answer.usage

    @property
    def answer(self) -> Answer:
        """What has arrived so far (the whole record once iteration ended)."""
        return self._record.snapshot()

    # -- streaming --------------------------------------------------------------------------

    def __iter__(self) -> Iterator[StreamEvent]:
        with self._handoff:
            replay = self._consumed
            self._consumed = True
            if not replay:
                self._reader = threading.current_thread()
        if replay:
            yield from self.events
            return
        source = self._source(self)
        try:
            for event in source:
                # Retrying is about the transport, not the answer; an event that comes after
                # stop() finished the record is not kept.
                if not isinstance(event, Retrying) and not self._record.add(event, self.events):
                    break
                yield event
                if self.stopped:  # events read before stop() closed the response stay unread
                    break
            self._record.finish(interrupted=self.stopped)
        except KimiError as error:
            if self.stopped:  # the read failed because stop() closed the response
                self._record.finish(interrupted=True)
                return
            self._fail(error, truncated=isinstance(error, StreamError))
            if isinstance(error, StreamError):
                error.answer = self._record.answer
            raise
        except (KeyboardInterrupt, GeneratorExit):
            self._record.finish(interrupted=True)
            raise
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
            self.close()
            self._read_done.set()

    def _fail(self, error: KimiError, *, truncated: bool) -> None:
        self.error = error
        self._record.finish(truncated=truncated, error=str(error))

    def run_keeping_errors(self) -> Answer:
        """Read to the end and return the record; an error ends the read but is not raised: it
        is kept (`call.error`, `answer.error`). An interrupt marks the answer and is raised."""
        try:
            for _ in self:
                pass
        except KimiError:
            pass
        return self.answer

    def result(self) -> Answer:
        """Read to the end and return the whole answer; an error is raised (as
        `Future.result()` does)."""
        for _ in self:
            pass
        return self.answer

    def run(self) -> Answer:
        """Deprecated name of `run_keeping_errors()`."""
        warnings.warn(
            "Call.run() is now Call.run_keeping_errors() (errors are kept, not raised).",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.run_keeping_errors()

    def until_done(self) -> Answer:
        """Deprecated name of `result()`."""
        warnings.warn(
            "Call.until_done() is now Call.result() (errors are raised).",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.result()

    def stop(self, wait: float = STOP_WAIT_S) -> None:
        """End the stream now (the Stop button): the answer so far is kept as interrupted.

        From another thread than the reader's, it closes the response and waits (up to `wait`
        seconds) for the reader to finish the record, so the record is never read while the
        reader still adds to it; with no reader yet, it finishes the record itself."""
        with self._handoff:
            self._stop.set()
            reader = self._reader
            reading = bool(self._closers)  # a response is open: closing it ends the read
        self.close()
        if reader is threading.current_thread():
            return  # stopped from the reader's own loop: it finishes the record as it unwinds
        woken = reader is not None and (self._read_done.is_set() or reading)
        if woken and self._read_done.wait(wait):
            return
        # No reader, one that cannot be woken (connecting, waiting for the headers), or one
        # slower than `wait`: the record is finished here, under its lock, and what that
        # reader brings later is not added to it.
        self._record.finish(interrupted=True)

    def wait_unless_stopped(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when stop() came meanwhile (send nothing more then)."""
        return self._stop.wait(seconds)

    def on_close(self, closer: Callable[[], None]) -> None:
        """Run `closer` (e.g. close the HTTP response) when the call is closed or stopped."""
        self._closers.append(closer)
        if self.stopped:
            closer()

    def close(self) -> None:
        """Release what the source holds open; what arrived stays in `answer`."""
        for closer in self._closers:
            closer()

    def __enter__(self) -> Call:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Record:
    """Folds events into the Answer: the first choice's text, reasoning and tool calls; other
    choices' text (n > 1); the last usage report wins. Text is joined on demand, since joining
    per event is quadratic."""

    def __init__(self, parameters: dict[str, Any]) -> None:
        self.answer = Answer(parameters=parameters)
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]
        self._choices: dict[int, list[str]] = {}  # choice index >= 1 -> text pieces
        self._started = time.perf_counter()
        self._first_token_at: float | None = None
        self._finished = False
        # The reader adds; the main thread may snapshot (and stop() finish) meanwhile.
        self._lock = threading.Lock()

    def add(self, event: StreamEvent, events: list[StreamEvent]) -> bool:
        """Fold `event` in and append it to `events`, together; False (and neither) once the
        record is finished."""
        with self._lock:
            if self._finished:
                return False
            self._add(event)
            events.append(event)
            return True

    def _add(self, event: StreamEvent) -> None:
        answer = self.answer
        if isinstance(event, LogprobsDelta):
            if event.choice == 0:
                answer.logprobs.extend(event.tokens)
        elif isinstance(event, (TextDelta, ReasoningDelta, ToolCallDelta)) and event.choice:
            if isinstance(event, TextDelta):  # other choices (n > 1) keep only their text
                self._choices.setdefault(event.choice, []).append(event.text)
        elif isinstance(event, TextDelta):
            self._first_token()
            self._text.append(event.text)
        elif isinstance(event, ReasoningDelta):
            self._first_token()
            self._reasoning.append(event.text)
        elif isinstance(event, ToolCallDelta):
            call = self._calls.setdefault(event.index, ["", "", ""])
            call[0] = event.id or call[0]
            call[1] = event.name or call[1]
            call[2] += event.arguments
        elif isinstance(event, UsageReport):
            answer.usage = event.usage
        elif isinstance(event, Finish):
            answer.finish_reason = event.reason or answer.finish_reason
        elif isinstance(event, ResponseStarted):
            answer.request_id = answer.request_id or event.request_id
            answer.model = event.model or answer.model
            if event.gateway_cache or event.gateway_log_id:
                answer.gateway = {"cache": event.gateway_cache, "log_id": event.gateway_log_id}

    def _first_token(self) -> None:
        if self._first_token_at is None:
            self._first_token_at = time.perf_counter()

    def snapshot(self) -> Answer:
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> Answer:
        if self._finished:
            return self.answer
        answer = self.answer
        answer.text = "".join(self._text)
        answer.reasoning = "".join(self._reasoning)
        answer.tool_calls = [ToolCall(*call) for _, call in sorted(self._calls.items())]
        if self._choices:
            others = ["".join(self._choices.get(i, ())) for i in range(1, max(self._choices) + 1)]
            answer.choices = [answer.text, *others]
        answer.seconds = time.perf_counter() - self._started
        if self._first_token_at is not None:
            answer.latency = self._first_token_at - self._started
        return answer

    def finish(
        self, *, interrupted: bool = False, truncated: bool = False, error: str | None = None
    ) -> Answer:
        """Freeze the record (marked as it ended) and return it; the first finish wins."""
        with self._lock:
            if self._finished:
                return self.answer
            answer = self._snapshot()
            self._finished = True
            answer.interrupted = answer.interrupted or interrupted
            answer.truncated = answer.truncated or truncated
            answer.error = answer.error or error
            return answer
