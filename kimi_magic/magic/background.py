"""`%%kimi --bg`: the cell returns at once and the answer streams into that cell's own output
on a thread, while the user runs other cells; `%kimi wait` (or `kimi_magic.wait()`) blocks
until every background answer is done, so Run All stays correct.

The live view was displayed by the cell itself (the main thread); the thread only updates it
and finally replaces it through its display id, which frontends route to the cell that made it
whatever cell runs then. A headless client (nbclient, nbconvert, papermill) reads only the
messages of the cell it is running, so `wait` publishes each final answer again from the
waiting cell; the update still lands in the answer's own cell, by its display id.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable

from ..render.display import AnswerSlot
from ..session.turn import Turn

JOIN_TICK_S = 0.1  # wait in short steps so a kernel interrupt still lands


class Background:
    """The background answers of one notebook."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []
        self._finished: list[AnswerSlot] = []  # to publish again from the waiting cell
        self._lock = threading.Lock()

    def start(
        self, slot: AnswerSlot, turn: Turn, after: Callable[[Turn, AnswerSlot], None]
    ) -> None:
        """Stream `slot` on a thread; then `after(turn, slot)` finishes the turn."""

        def run() -> None:
            try:
                slot.stream()
            finally:  # whatever happened, the turn is finished: %kimi wait must not hang
                try:
                    after(turn, slot)
                finally:
                    with self._lock:
                        self._finished.append(slot)

        # The thread runs in a copy of the cell's context: ipykernel keeps the parent header
        # in a context variable, so the answer's updates are addressed to the cell that asked.
        context = contextvars.copy_context()
        thread = threading.Thread(
            target=context.run, args=(run,), name="kimi-magic-background", daemon=True
        )
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

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

    def _republish(self) -> None:
        """The answers finished so far, published again from the cell that waits."""
        with self._lock:
            finished, self._finished = self._finished, []
        for slot in finished:
            slot.republish()
