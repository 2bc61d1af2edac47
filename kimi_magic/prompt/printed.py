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
# Kept beyond PRINTED_CHARS, so the text is redacted whole before it is cut: a secret printed
# across the cut (up to this long) never leaks in part.
PRINTED_MARGIN = 4_096


class _Tee:
    """Forwards everything to the real stream; keeps what is written, up to a limit."""

    def __init__(self, target: Any) -> None:
        self._target = target
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> Any:
        kept = PRINTED_CHARS + PRINTED_MARGIN
        if self.size < kept and isinstance(text, str):
            self.parts.append(text[: kept - self.size])
            self.size += len(text)
        return self._target.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class PrintedMemory:
    """The printed text of the last PRINTED_CELLS cells, by execution count."""

    def __init__(self) -> None:
        self._by_cell: OrderedDict[int, tuple[str, int]] = OrderedDict()  # (kept, size)
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
        if cell is not None and text:
            self._by_cell[cell] = (text, tee.size)
            self._by_cell.move_to_end(cell)
            while len(self._by_cell) > PRINTED_CELLS:
                self._by_cell.popitem(last=False)

    def of(self, cell: int) -> str:
        """What cell `cell` printed ('' when nothing, or not kept), the turn's secrets
        redacted before it is cut to PRINTED_CHARS."""
        from ..core.secrets import redact_then  # compiled on first use, not at %load_ext

        text, size = self._by_cell.get(cell, ("", 0))
        if not text:
            return ""
        text = redact_then(text)
        if size > PRINTED_CHARS or len(text) > PRINTED_CHARS:
            left = max(size, len(text)) - PRINTED_CHARS
            text = text[:PRINTED_CHARS] + f"\n… ({left:,} more characters not kept)"
        return text
