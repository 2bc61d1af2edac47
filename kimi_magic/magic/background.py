"""`%%kimi --bg`: the cell returns at once and the answer streams into that cell's own output
on a thread, while the user runs other cells; `%kimi wait` (or `kimi_magic.wait()`) blocks
until every background answer is done, so Run All stays correct.

The live view was displayed by the cell itself (the main thread); the thread only updates it
and finally replaces it through its display id, which frontends route to the cell that made it
whatever cell runs then. A headless client (nbclient, nbconvert, papermill) reads only the
messages of the cell it is running, so `wait` publishes each final answer again from the
waiting cell; the update still lands in the answer's own cell, by its display id.

`close()` (on `%unload_ext` and at exit) stops them: their calls are stopped, the threads are
joined within a bounded time, and from then on nothing they do is shown or stored.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable

from ..core.call import Call
from ..render.display import AnswerSlot
from ..render.frontend import show_markdown
from ..session.turn import Turn

JOIN_TICK_S = 0.1  # wait in short steps so a kernel interrupt still lands
CLOSE_JOIN_S = 5.0  # how long close() waits for each stopped answer's thread


After = Callable[[Turn, AnswerSlot], "str | None"]  # finishes the turn; returns a problem


class Background:
    """The background answers of one notebook; `record(turn)` finishes a turn without
    showing or storing anything (what is left to do once they are closed)."""

    def __init__(self, record: Callable[[Turn], None]) -> None:
        self._threads: list[threading.Thread] = []
        self._calls: dict[threading.Thread, Call] = {}
        self._finished: list[AnswerSlot] = []  # to publish again from the waiting cell
        self._problems: list[str] = []  # answers that could not be stored, said at wait
        self._record = record
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def start(self, slot: AnswerSlot, turn: Turn, after: After) -> None:
        """Stream `slot` on a thread; then `after(turn, slot)` finishes the turn."""

        def run() -> None:
            try:
                if not self._closed.is_set():
                    slot.stream()
            finally:  # whatever happened, the turn is finished: %kimi wait must not hang
                self._after(turn, slot, after)

        # The thread runs in a copy of the cell's context: ipykernel keeps the parent header
        # in a context variable, so the answer's updates are addressed to the cell that asked.
        context = contextvars.copy_context()
        thread = threading.Thread(
            target=context.run, args=(run,), name="kimi-magic-background", daemon=True
        )
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            self._calls[thread] = slot.call
        thread.start()

    def _after(self, turn: Turn, slot: AnswerSlot, after: After) -> None:
        if self._closed.is_set():  # closed: kept in history, nothing shown or stored
            self._record(turn)
            return
        problem = None
        try:
            problem = after(turn, slot)
        finally:
            with self._lock:
                self._finished.append(slot)
                if problem:
                    self._problems.append(problem)
                self._calls.pop(threading.current_thread(), None)

    @property
    def running(self) -> int:
        with self._lock:
            return sum(t.is_alive() for t in self._threads)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every background answer is done; False if `timeout` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            while thread.is_alive():
                if deadline is not None and time.monotonic() >= deadline:
                    self._republish()
                    return False
                thread.join(JOIN_TICK_S)
        self._republish()
        return True

    def close(self) -> None:
        """Stop every background answer and join its thread (each within CLOSE_JOIN_S);
        nothing they do afterwards is shown or stored."""
        self._closed.set()
        with self._lock:
            threads, calls = list(self._threads), list(self._calls.values())
            self._threads, self._calls, self._finished = [], {}, []
        for call in calls:
            call.stop()
        for thread in threads:
            thread.join(CLOSE_JOIN_S)

    def _republish(self) -> None:
        """The answers finished so far, published again from the cell that waits, and what
        could not be stored said again there."""
        with self._lock:
            finished, self._finished = self._finished, []
            problems, self._problems = self._problems, []
        for slot in finished:
            slot.republish()
        for problem in problems:
            show_markdown(f"<small>⚠ A background answer: {problem}</small>", plain=problem)
