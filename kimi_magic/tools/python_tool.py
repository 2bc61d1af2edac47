"""`run_python` (`--tools python`): run code the model wrote in the user's namespace, after
approval, and tell the model what happened: stdout and stderr, the last expression's value,
the figures it drew (as images: the visual loop) and the error it raised, all bounded.

A run past its time limit is interrupted like the kernel's interrupt button would: a
KeyboardInterrupt raised in the running thread.
"""

from __future__ import annotations

import ast
import contextlib
import ctypes
import io
import itertools
import linecache
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..core.constants import RUN_PYTHON_SECONDS, TOOL_RESULT_CHARS
from .approval import Approver
from .registry import Tool, tool_from_function
from .results import ToolOutput, clip

CELL_NAME = "<kimi run_python {}>"
_RUNS = itertools.count(1)  # each run its own file name, so its traceback shows its lines


class _TimeLimit(KeyboardInterrupt):
    """Raised in the running thread when the time limit passes."""


@dataclass
class Run:
    """What one run produced."""

    stdout: str = ""
    stderr: str = ""
    value: Any = None
    has_value: bool = False
    error: str = ""
    timed_out: bool = False
    figures: list[Any] = field(default_factory=list)


def execute(code: str, namespace: dict[str, Any], time_limit: float = RUN_PYTHON_SECONDS) -> Run:
    """Run `code` in `namespace` (statements, then the last expression's value), capturing
    output and new figures; an error is kept, not raised; an interrupt from outside is raised."""
    run = Run()
    filename = CELL_NAME.format(next(_RUNS))
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
    try:
        tree = ast.parse(code, filename, "exec")
    except SyntaxError as error:
        run.error = "".join(traceback.format_exception_only(type(error), error)).rstrip()
        return run
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    assert last is None or isinstance(last, ast.Expr)
    before = _figure_numbers()
    out, err = io.StringIO(), io.StringIO()
    with (
        _time_limit(time_limit) as timer,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            exec(compile(tree, filename, "exec"), namespace)
            if last is not None:
                expression = ast.Expression(last.value)
                run.value = eval(compile(expression, filename, "eval"), namespace)
                run.has_value = True
            timer.disarm()
        except KeyboardInterrupt:
            timer.disarm()
            if not timer.fired:
                raise
            run.timed_out = True
            run.error = f"The run was interrupted after its time limit of {time_limit:g} s."
        except Exception as error:  # the model's code failed: the model reads the traceback
            run.error = _user_traceback(error, filename)
    run.stdout, run.stderr = out.getvalue(), err.getvalue()
    run.figures = _new_figures(before)
    return run


def _user_traceback(error: BaseException, filename: str) -> str:
    """The traceback from the model's code down, without this module's frames."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb)).rstrip()


@dataclass
class _Timer:
    """Raises KeyboardInterrupt in the running thread once `seconds` pass, unless disarmed
    first (the lock keeps a late timer from interrupting whoever runs after the code)."""

    seconds: float
    fired: bool = False
    armed: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def disarm(self) -> None:
        with self._lock:
            self.armed = False

    def fire(self, target: int, on_main: bool) -> None:
        with self._lock:
            if not self.armed:
                return
            self.fired = True
            if on_main:
                # A real SIGINT, as the kernel's interrupt sends: it also wakes a sleep or a
                # blocking read, which interrupt_main() would not.
                signal.pthread_kill(target, signal.SIGINT)
            else:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(target), ctypes.py_object(_TimeLimit)
                )


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[_Timer]:
    """A running `_Timer` for this thread; cancelled on the way out."""
    state = _Timer(seconds)
    on_main = threading.current_thread() is threading.main_thread()
    timer = threading.Timer(seconds, state.fire, (threading.get_ident(), on_main))
    timer.daemon = True
    timer.start()
    try:
        yield state
    finally:
        state.disarm()
        timer.cancel()


def _figure_numbers() -> dict[int, Any]:
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return {}
    return {n: pyplot.figure(n) for n in pyplot.get_fignums()}


def _new_figures(before: dict[int, Any]) -> list[Any]:
    """Figures the run opened or drew on (the inline backend shows them after the cell)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return []
    figures = []
    for number in pyplot.get_fignums():
        figure = pyplot.figure(number)
        if number not in before or figure.stale:
            figures.append(figure)
    return figures


def report(run: Run, limit: int = TOOL_RESULT_CHARS) -> str:
    """The text the model reads about a run."""
    from ..prompt.images import is_image_object
    from ..prompt.variables import render

    parts: list[str] = []
    share = max(limit // 3, 200)
    if run.stdout:
        parts.append(f"stdout:\n{clip(run.stdout, share)}")
    if run.stderr:
        parts.append(f"stderr:\n{clip(run.stderr, share)}")
    if run.has_value and run.value is not None and not is_image_object(run.value):
        parts.append(f"Value of the last expression:\n{render(run.value).text}")
    if run.figures:
        parts.append(f"{len(run.figures)} figure(s) drawn, attached as images.")
    if run.error:
        parts.append(f"Error:\n{clip(run.error, share)}")
    return "\n\n".join(parts) or "The code ran without output."


def python_tool(
    namespace: dict[str, Any],
    approver: Approver,
    time_limit: float = RUN_PYTHON_SECONDS,
) -> Tool:
    """The run_python tool bound to the user's namespace and an approver."""

    def run_python(code: str) -> ToolOutput:
        """Run Python code in the user's notebook namespace (after the user approves) and see
        its printed output, the value of its last expression, any error, and the figures it
        draws (as images). Variables it defines stay in the notebook.

        Args:
            code: The Python code to run, as in a notebook cell.
        """
        decision = approver(code)
        if not decision.approved:
            reason = decision.reason or "The user denied running this code."
            return ToolOutput(f"Not run: {reason}", denied=True)
        run = execute(code, namespace, time_limit)
        images = list(run.figures)
        if run.has_value and _is_image(run.value) and not run.figures:
            images.append(run.value)
        _close(run.figures)
        failed = bool(run.error)
        return ToolOutput(report(run), images=images, error=failed, code=None if failed else code)

    made = tool_from_function(run_python, source="run_python")
    return Tool(
        made.name,
        made.description,
        made.parameters,
        made.function,
        source="run_python",
        main_thread=True,
    )


def _is_image(value: Any) -> bool:
    from ..prompt.images import is_image_object

    return is_image_object(value)


def _close(figures: list[Any]) -> None:
    """Close figures sent to the model, after they were rendered: the user sees them in the
    tool block, and the next run does not send them again."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        for figure in figures:
            pyplot.close(figure)
