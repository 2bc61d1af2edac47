"""Rendering a notebook value within a time budget: a `__repr__` that takes 30 s must not hold
the cell 30 s."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any


class TooSlow(Exception):
    """A rendering did not finish within its time budget."""


_FAST_TYPES = (str, bytes, bytearray, int, float, bool, complex, type(None))


def within(
    seconds: float, renderer: Callable[[Any, int], tuple[str, str]], value: Any, max_chars: int
) -> tuple[str, str]:
    """The renderer's result, or TooSlow after `seconds`: a `__repr__` that takes 30 s must
    not hold the cell 30 s. It runs on a daemon thread, which is left to finish on its own
    (Python cannot stop a thread); its result is then dropped."""
    if type(value) in _FAST_TYPES:
        return renderer(value, max_chars)
    outcome: list[Any] = []
    done = threading.Event()

    def work() -> None:
        try:
            outcome.append(renderer(value, max_chars))
        except BaseException as error:  # handed back to the caller's thread
            outcome.append(error)
        finally:
            done.set()

    # The thread sees the caller's context: the turn's redactor (core/secrets.py) included.
    context = contextvars.copy_context()
    threading.Thread(
        target=context.run, args=(work,), name="kimi-magic-render", daemon=True
    ).start()
    if not done.wait(seconds):
        raise TooSlow
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result  # type: ignore[no-any-return]
