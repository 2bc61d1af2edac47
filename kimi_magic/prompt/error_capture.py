"""The last exception of each cell, kept for `%kimi explain`, `%kimi fix` and `{Err[n]}`.

Read from `post_run_cell`'s `ExecutionResult` (`error_in_exec` / `error_before_exec`), so no
exception handler is replaced: one installed with `shell.set_custom_exc` keeps running exactly
as before, and ours sees the exception after it.
"""

from __future__ import annotations

import builtins
import io
import keyword
import re
import tokenize
import traceback
from collections import OrderedDict
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Any

from ..core.constants import ERRORS_REMEMBERED
from ..core.errors import KimiError

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# A magic's usage message or an interrupt is no bug of the notebook's code to explain. Known
# by name: this layer must not import IPython (the session runs without it).
_NOT_BUGS = frozenset({"UsageError", "KeyboardInterrupt"})
PART_CHARS = 3_000  # of a cell's source and of its traceback in an {Err[n]} rendering


@dataclass
class CellError:
    """An exception a cell raised, with the cell's source and the frame that failed."""

    execution_count: int
    source: str
    exception: BaseException
    # The innermost frame of notebook code (a cell or a function defined in one).
    frame_line: str = ""
    frame_names: dict[str, Any] = field(default_factory=dict)
    # Leading traceback entries that are IPython's machinery, not the notebook's code.
    skip_frames: int = 0

    @property
    def traceback_text(self) -> str:
        error = self.exception
        tb = error.__traceback__
        for _ in range(self.skip_frames):
            tb = tb.tb_next if tb is not None and tb.tb_next is not None else tb
        text = "".join(traceback.format_exception(type(error), error, tb))
        return _ANSI.sub("", text).rstrip()

    @property
    def summary(self) -> str:
        return f"{type(self.exception).__name__}: {self.exception}"

    def _repr_llm_(self) -> str:
        from ..core.secrets import Redactor, active_redactor  # compiled on first use

        frames = Redactor.collect(namespace=self.frame_names)

        def redacted(text: str) -> str:  # the turn's secrets and the failing frame's
            return frames.redact(active_redactor().redact(text).text).text

        # Redacted whole, then cut: a secret across the cut would leak in part. Keep the
        # traceback's end (the innermost frames and the message) when it is long.
        trace = redacted(self.traceback_text)
        if len(trace) > PART_CHARS:
            trace = (
                f"[cut: showing the last {PART_CHARS:,} of {len(trace):,} characters]\n…"
                + trace[-PART_CHARS:]
            )
        source = redacted(self.source.rstrip())
        if len(source) > PART_CHARS:
            source = (
                source[:PART_CHARS] + f"\n[cut: showing the first {PART_CHARS:,} of "
                f"{len(source):,} characters]"
            )
        text = (
            f"Cell {self.execution_count} raised {self.summary}\n\nCell source:\n```python\n"
            f"{source}\n```\n\nTraceback:\n```\n{trace}\n```"
        )
        return redacted(text)


class ErrorMemory:
    """The last exception of each of the last ERRORS_REMEMBERED failing cells."""

    def __init__(self, size: int = ERRORS_REMEMBERED) -> None:
        self.size = size
        self.by_cell: OrderedDict[int, CellError] = OrderedDict()

    def record(self, result: Any, user_ns: dict[str, Any], cell: int | None = None) -> None:
        """post_run_cell: keep the cell's exception, if it raised one (under `cell` when the
        result has no count: cells run without storing history)."""
        error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        count = getattr(result, "execution_count", None) or cell
        if error is None or count is None or type(error).__name__ in _NOT_BUGS:
            return
        source = getattr(getattr(result, "info", None), "raw_cell", "") or ""
        line, names = _failing_frame(error, user_ns)
        self.by_cell[count] = CellError(
            count, source, error, line, names, _machinery_frames(error, user_ns)
        )
        self.by_cell.move_to_end(count)
        while len(self.by_cell) > self.size:
            self.by_cell.popitem(last=False)

    def last(self) -> CellError:
        if not self.by_cell:
            raise KimiError(
                "There is no error to explain: no cell has raised an exception since "
                "kimi_magic was loaded. Run the failing cell again, then "
                "`%kimi explain`."
            )
        return next(reversed(self.by_cell.values()))

    def __getitem__(self, execution_count: int) -> CellError:
        if execution_count not in self.by_cell:
            cells = ", ".join(map(str, self.by_cell)) or "none yet"
            raise KeyError(
                f"cell {execution_count} raised no remembered error (cells with errors: {cells})"
            )
        return self.by_cell[execution_count]

    def __iter__(self) -> Any:
        return iter(self.by_cell)

    def __len__(self) -> int:
        return len(self.by_cell)


def caught_error(error: BaseException, user_ns: dict[str, Any], cells: list[str]) -> CellError:
    """A CellError for an exception the notebook caught and kept in a variable (so a run by
    papermill, which stops at any failing cell, can still explain it): the cell is found by
    its source among `cells` (the shell's `In`)."""
    line, names = _failing_frame(error, user_ns)
    source = ""
    tb: TracebackType | None = error.__traceback__
    while tb is not None and not source:
        if tb.tb_frame.f_globals is user_ns:
            import linecache

            source = "".join(linecache.getlines(tb.tb_frame.f_code.co_filename))
        tb = tb.tb_next
    count = max(
        (i for i, cell in enumerate(cells) if source and cell.strip() == source.strip()), default=0
    )
    return CellError(count, source, error, line, names, _machinery_frames(error, user_ns))


def _failing_frame(error: BaseException, user_ns: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The failing line of notebook code and the values of the names it uses."""
    frame: FrameType | None = None
    lineno = 0
    tb: TracebackType | None = error.__traceback__
    while tb is not None:
        # Cell code and functions defined in cells run with the notebook namespace as globals.
        if tb.tb_frame.f_globals is user_ns:
            frame, lineno = tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next
    if frame is None:
        return "", {}
    import linecache

    line = linecache.getline(frame.f_code.co_filename, lineno).strip()
    names: dict[str, Any] = {}
    for name in _names_in(line):
        for scope in (frame.f_locals, frame.f_globals):
            if name in scope:
                value = scope[name]
                if not _is_noise(value):
                    names[name] = value
                break
    return line, names


def _machinery_frames(error: BaseException, user_ns: dict[str, Any]) -> int:
    """How many traceback entries come before the first one of notebook code."""
    count, tb = 0, error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals is user_ns:
            return count
        count, tb = count + 1, tb.tb_next
    return 0


def _names_in(line: str) -> list[str]:
    found: list[str] = []
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        tokens = []
    previous = ""
    for token in tokens:
        name = token.string
        if (
            token.type == tokenize.NAME
            and not keyword.iskeyword(name)
            and previous != "."
            and name not in found
            and not hasattr(builtins, name)
        ):
            found.append(name)
        previous = token.string
    return found


def _is_noise(value: Any) -> bool:
    """Modules and IPython's own objects say nothing about the failure."""
    import types

    return isinstance(value, types.ModuleType) or type(value).__module__.startswith("IPython")
