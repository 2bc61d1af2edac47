"""Splits growing markdown into finished blocks and an open tail, incrementally.

A block is finished once later text proves it cannot change: a blank line followed by a line
that does not continue it, a heading, or the closing fence of a code block. Blocks are never
cut inside a fenced code block, a `$$` math block, a table or a list, so each renders alone
exactly as it would inside the whole text. Work per feed is proportional to the new text.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}#{1,6}(\s|$)")
_LIST_ITEM = re.compile(r"^ {0,3}([-+*]|\d{1,9}[.)])(\s|$)")
_MATH_FENCE = "$$"


class BlockSplitter:
    """Feed text as it streams; `feed` returns the blocks that just became final."""

    def __init__(self) -> None:
        self._lines: list[str] = []  # complete lines of the open block, newline included
        self._partial = ""  # the last, unfinished line
        self._fence: str | None = None  # the open fence marker, or "$$"
        self._fence_opened_block = False
        self._blank_seen = False
        self._is_list = False

    @property
    def tail(self) -> str:
        """The open block as it stands (may change with more text)."""
        return "".join(self._lines) + self._partial

    def feed(self, text: str) -> list[str]:
        finished: list[str] = []
        if "\n" not in text:
            self._partial += text
            return finished
        pieces = (self._partial + text).split("\n")
        self._partial = pieces.pop()
        for line in pieces:
            self._take_line(line + "\n", finished)
        return finished

    def close(self) -> list[str]:
        """Everything left, as final blocks, when the stream ends."""
        rest = self.tail
        self._lines, self._partial = [], ""
        return [rest] if rest.strip() else []

    def _emit(self, finished: list[str]) -> None:
        block = "".join(self._lines)
        if block.strip():
            finished.append(block)
        self._lines = []
        self._blank_seen = False
        self._is_list = False
        self._fence_opened_block = False

    def _take_line(self, line: str, finished: list[str]) -> None:
        stripped = line.strip()
        if self._fence is not None:
            self._lines.append(line)
            if self._closes_fence(stripped):
                self._fence = None
                if self._fence_opened_block:
                    self._emit(finished)
            return

        opener = self._fence_opener(line, stripped)
        if not stripped:
            self._blank_seen = bool(self._lines)
            if self._lines:
                self._lines.append(line)
            return

        indented = line.startswith((" ", "\t"))
        continues_list = self._is_list and (indented or _LIST_ITEM.match(line) is not None)
        after_blank = self._blank_seen and not continues_list
        interrupts = (
            _HEADING.match(line) is not None or (opener is not None and not indented)
        ) and not (opener is not None and self._is_list)
        if self._lines and (after_blank or interrupts):
            self._emit(finished)

        if not self._lines:
            self._is_list = _LIST_ITEM.match(line) is not None
            self._fence_opened_block = opener is not None
        self._blank_seen = False
        self._lines.append(line)
        if opener is not None:
            self._fence = opener
        elif _HEADING.match(line) and len(self._lines) == 1:
            self._emit(finished)

    @staticmethod
    def _fence_opener(line: str, stripped: str) -> str | None:
        if stripped == _MATH_FENCE:
            return _MATH_FENCE
        match = _FENCE.match(line)
        return match.group(1) if match else None

    def _closes_fence(self, stripped: str) -> bool:
        fence = self._fence or ""
        if fence == _MATH_FENCE:
            return stripped == _MATH_FENCE
        return stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0])
