"""What a session tells its listeners (the panel, the magic): an answer finished, settings
changed. Listeners subscribe instead of reaching into each other's attributes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .turn import Turn


@dataclass(frozen=True)
class AnswerFinished:
    """A turn ended (complete, interrupted, truncated or failed); `turn.answer` is the record."""

    turn: Turn


@dataclass(frozen=True)
class SettingsChanged:
    """Settings of the panel / %config layer changed."""

    names: tuple[str, ...]


SessionEvent = AnswerFinished | SettingsChanged
Listener = Callable[[SessionEvent], None]
