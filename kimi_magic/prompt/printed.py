"""What each cell printed, kept for the notebook tools (`cell(N)` shows it with the source).

IPython keeps a cell's source and result but not its printed text. While a cell runs, stdout
is wrapped by a small tee that forwards every write unchanged and keeps a bounded copy; the
wrapper is removed when the cell ends (and left alone if the cell replaced stdout itself).
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Any

PRINTED_CELLS = 20  # cells whose printed text is kept
PRINTED_CHARS = 4_000  # of one cell's printed text: the start, then a note


class _Tee:
    """Forwards everything to the real stream; keeps what is written, up to a limit."""

    def __init__(self, target: Any) -> None:
        self._target = target
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> Any:
        if self.size < PRINTED_CHARS and isinstance(text, str):
            self.parts.append(text[: PRINTED_CHARS - self.size])
            self.size += len(text)
        return self._target.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class PrintedMemory:
    """The printed text of the last PRINTED_CELLS cells, by execution count."""

    def __init__(self) -> None:
        self._by_cell: OrderedDict[int, str] = OrderedDict()
        self._tee: _Tee | None = None

    def start(self) -> None:
        """A cell starts: copy what it prints."""
        if self._tee is None:
            self._tee = _Tee(sys.stdout)
            sys.stdout = self._tee

    def stop(self, cell: int | None) -> None:
        """The cell ended: keep its text under `cell` and put stdout back."""
        tee, self._tee = self._tee, None
        if tee is None:
            return
        if sys.stdout is tee:
            sys.stdout = tee._target
        text = "".join(tee.parts)
        if tee.size > PRINTED_CHARS:
            text += f"\n… ({tee.size - PRINTED_CHARS:,} more characters not kept)"
        if cell is not None and text:
            self._by_cell[cell] = text
            self._by_cell.move_to_end(cell)
            while len(self._by_cell) > PRINTED_CELLS:
                self._by_cell.popitem(last=False)

    def of(self, cell: int) -> str:
        """What cell `cell` printed ('' when nothing, or not kept)."""
        return self._by_cell.get(cell, "")
