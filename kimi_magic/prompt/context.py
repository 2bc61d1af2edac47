"""What the notebook showed: the hooks that remember displayed images and cell errors.

Installed by `load_ipython_extension` on one shell; cheap (no imports beyond the standard
library, no work per cell beyond keeping references).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .error_capture import ErrorMemory
from .images import ImageMemory
from .printed import PrintedMemory

log = logging.getLogger("kimi_magic")
_WRAPPED = "__kimi_magic_original__"


@dataclass
class NotebookContext:
    """Images and errors of this kernel's cells, and the cell running now."""

    images: ImageMemory = field(default_factory=ImageMemory)
    errors: ErrorMemory = field(default_factory=ErrorMemory)
    printed: PrintedMemory = field(default_factory=PrintedMemory)
    cell: int | None = None
    _shell: Any = None
    # IPython 9 counts a cell before `pre_run_cell` fires, IPython 8 after it ran; the first
    # `post_run_cell` (which carries the true count) confirms which this shell does.
    _counts_ahead: bool = field(default_factory=lambda: _ipython_major() >= 9)

    def install(self, shell: Any) -> None:
        """Hook display publishing, the display hook (Out[n]) and the cell events."""
        self._shell = shell
        shell.events.register("pre_run_cell", self._pre_run_cell)
        shell.events.register("post_run_cell", self._post_run_cell)
        _wrap(shell.display_pub, "publish", self._on_publish)
        _wrap(shell.displayhook, "write_format_data", self._on_result)

    def uninstall(self) -> None:
        """Remove the hooks `install` added."""
        shell = self._shell
        if shell is None:
            return
        for name, hook in (
            ("pre_run_cell", self._pre_run_cell),
            ("post_run_cell", self._post_run_cell),
        ):
            with contextlib.suppress(ValueError):
                shell.events.unregister(name, hook)
        _unwrap(shell.display_pub, "publish")
        _unwrap(shell.displayhook, "write_format_data")
        self.printed.stop(None)
        self._shell = None

    def execution_count(self) -> int | None:
        """The count of the cell running now (matplotlib's inline figures appear after the
        cell's own code, when the shell has already counted up, hence pre_run_cell's note)."""
        if self.cell is not None:
            return self.cell
        return getattr(self._shell, "execution_count", None)

    # -- hooks --------------------------------------------------------------------------------

    def _pre_run_cell(self, info: Any = None) -> None:
        count = getattr(self._shell, "execution_count", None)
        if count is not None and self._counts_ahead and getattr(info, "store_history", False):
            count -= 1
        self.cell = count
        self.printed.start()

    def _post_run_cell(self, result: Any = None) -> None:
        cell, self.cell = self.cell, None
        actual = getattr(result, "execution_count", None)
        if isinstance(actual, int) and isinstance(cell, int) and actual != cell:
            self._counts_ahead = actual < cell
            self.images.relabel(cell, actual)
            cell = actual
        self.printed.stop(cell)
        if result is not None and self._shell is not None:
            self.errors.record(result, self._shell.user_ns, cell)

    def _on_publish(self, data: Any, metadata: Any = None, *args: Any, **kwargs: Any) -> None:
        if isinstance(data, dict):
            self.images.remember(data, self.execution_count(), metadata)

    def _on_result(self, format_dict: Any, md_dict: Any = None, *args: Any, **kwargs: Any) -> None:
        if isinstance(format_dict, dict):
            self.images.remember(format_dict, self.execution_count(), md_dict)


def _ipython_major() -> int:
    # The shell that installed these hooks has imported IPython; this layer does not.
    return int(sys.modules["IPython"].version_info[0])


def _wrap(owner: Any, name: str, observer: Callable[..., None]) -> None:
    """Let `observer` see every call of `owner.name` first; never let it break the call."""
    original = getattr(owner, name)
    if hasattr(original, _WRAPPED):
        original = getattr(original, _WRAPPED)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            observer(*args, **kwargs)
        except Exception:  # a display must never fail because we could not remember it
            log.debug("kimi_magic could not remember a displayed output", exc_info=True)
        return original(*args, **kwargs)

    setattr(wrapper, _WRAPPED, original)
    setattr(owner, name, wrapper)


def _unwrap(owner: Any, name: str) -> None:
    current = getattr(owner, name, None)
    if current is not None and hasattr(current, _WRAPPED):
        # The original is a bound method of the instance: drop our instance attribute.
        try:
            delattr(owner, name)
        except AttributeError:
            setattr(owner, name, getattr(current, _WRAPPED))
