"""`run_python` (`--tools python`): run code the model wrote in the user's namespace, after
approval, and tell the model what happened: stdout and stderr, the last expression's value,
the figures it drew and the images it displayed (as images: the visual loop) and the error it
raised, all bounded.

Pictures reach the model however the code shows them: a figure left open in pyplot's registry,
and anything shown through IPython's display machinery during the run (`plt.show()` under the
inline backend, which displays the figures and closes them; `display(fig)`; an
`IPython.display.Image`; a displayed PIL image; any object with `_repr_png_`). Each is sent
once, and shown to the user in the tool block rather than published mid-answer.

A run past its time limit is interrupted like the kernel's interrupt button would: a
KeyboardInterrupt raised in the running thread. Code that catches it is not let off: on the
kernel's thread the interrupt also turns on a trace that raises it again at every line the
code runs, so no `except` can hold it, and the interrupt is repeated until the run ends. A run
that still does not end (stuck in C code that ignores signals) is given up on after
STOP_TRYING_SECONDS; when it ends by itself, the model and the user read that it could not be
stopped.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import ctypes
import io
import itertools
import linecache
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..core.constants import RUN_PYTHON_SECONDS, TOOL_RESULT_CHARS
from .approval import Approver
from .registry import Tool, tool_from_function
from .results import ToolOutput, clip

CELL_NAME = "<kimi run_python {}>"
REPEAT_SECONDS = 0.2  # between interrupts of a run that caught the last one
STOP_TRYING_SECONDS = 10.0  # past its limit, a run that will not stop is left to end by itself
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
    final = tree.body[-1] if tree.body else None
    last = final if isinstance(final, ast.Expr) else None  # its value is the run's result
    if last is not None:
        tree.body.pop()
    before = _figure_numbers()
    out, err = io.StringIO(), io.StringIO()
    with (
        _capturing_displays() as shown,
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
            timer.disarm()
            run.error = _user_traceback(error, filename)
        if timer.fired and not run.timed_out:  # it caught every interrupt and ended by itself
            run.timed_out = True
            run.error = (
                f"The run went past its time limit of {time_limit:g} s and could not be "
                f"stopped: it ignored {timer.shots} interrupt(s) and ended by itself after "
                f"{timer.elapsed():.1f} s."
            )
    run.stdout, run.stderr = out.getvalue(), err.getvalue()
    run.figures = _once(_new_figures(before) + shown)
    return run


def _user_traceback(error: BaseException, filename: str) -> str:
    """The traceback from the model's code down, without this module's frames."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != filename:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb)).rstrip()


@dataclass
class _Timer:
    """Interrupts the running thread once `seconds` pass, and again every REPEAT_SECONDS until
    disarmed (the run ended) or STOP_TRYING_SECONDS more have passed; the lock keeps a late
    shot from interrupting whoever runs after the code.

    On the main thread a shot is a real SIGINT, as the kernel's interrupt sends (it also wakes
    a sleep or a blocking read); the handler installed for the run raises `_TimeLimit` and
    turns on a trace that raises it again at every line of every frame but this module's.
    Elsewhere a shot is an asynchronous `_TimeLimit`.
    """

    seconds: float
    target: int
    on_main: bool
    fired: bool = False
    armed: bool = True
    shots: int = 0
    started: float = field(default_factory=time.monotonic)
    previous_trace: Any = None
    tracing: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _done: threading.Event = field(default_factory=threading.Event)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def disarm(self) -> None:
        """The run ended: no more shots, and the trace is off (call on the running thread)."""
        with self._lock:
            self.armed = False
            self._done.set()
        if self.tracing:
            sys.settrace(self.previous_trace)
            self.tracing = False

    def watch(self) -> None:
        """The timer thread: wait out the limit, then shoot until the run ends or we give up."""
        if self._done.wait(self.seconds):
            return
        give_up = time.monotonic() + STOP_TRYING_SECONDS
        while time.monotonic() < give_up:
            with self._lock:
                if not self.armed:
                    return
                self.fired = True
                self.shots += 1
                self._shoot()
            if self._done.wait(REPEAT_SECONDS):
                return

    def _shoot(self) -> None:
        if self.on_main:
            signal.pthread_kill(self.target, signal.SIGINT)
        else:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self.target), ctypes.py_object(_TimeLimit)
            )

    def on_sigint(self, previous: Any) -> Any:
        """The run's SIGINT handler: ours when the limit passed, else the one it replaced."""

        def handler(signum: int, frame: Any) -> None:
            if self.fired:
                if not self.armed:
                    return  # a last shot that arrived after the run ended
                self._trace_from(frame)
                raise _TimeLimit
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:
                raise KeyboardInterrupt

        return handler

    def _trace_from(self, frame: Any) -> None:
        """Raise again at every line the code runs: in new frames and in the running ones."""
        if not self.tracing:
            self.previous_trace = sys.gettrace()
            self.tracing = True
            sys.settrace(self._raise_again)
        while frame is not None and frame.f_code.co_filename != __file__:
            frame.f_trace = self._raise_again
            frame = frame.f_back

    def _raise_again(self, frame: Any, event: str, arg: Any) -> Any:
        if not self.armed or frame.f_code.co_filename == __file__:
            return None
        if event in ("call", "line"):
            raise _TimeLimit
        return self._raise_again


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[_Timer]:
    """A running `_Timer` for this thread (with its SIGINT handler on the main thread);
    stopped, and the handler put back, on the way out."""
    on_main = threading.current_thread() is threading.main_thread()
    state = _Timer(seconds, threading.get_ident(), on_main)
    previous = signal.getsignal(signal.SIGINT) if on_main else None
    own_handler = previous is not None  # None: a handler not set from Python, kept as it is
    if own_handler:
        signal.signal(signal.SIGINT, state.on_sigint(previous))
    watcher = threading.Thread(target=state.watch, name="kimi-magic-time-limit", daemon=True)
    watcher.start()
    try:
        yield state
    finally:
        state.disarm()
        watcher.join()
        if own_handler:
            _let_signals_run()
            signal.signal(signal.SIGINT, previous)


def _let_signals_run() -> None:
    """A Python call, so a last shot's pending SIGINT meets our handler, not the next one."""


_MISSING = object()


@contextlib.contextmanager
def _capturing_displays() -> Iterator[list[Any]]:
    """The images the code displays through IPython while the block runs: a Figure, PIL or
    IPython Image object as itself, anything else by the PNG / JPEG bytes of its display. Such
    a display is kept for the model, not published (the tool block shows it)."""
    shown: list[Any] = []
    shell = _shell()
    if shell is None:
        yield shown
        return
    formatter, publisher = shell.display_formatter, shell.display_pub
    saved = [
        (o, n, vars(o).get(n, _MISSING)) for o, n in ((formatter, "format"), (publisher, "publish"))
    ]
    original_format, original_publish = formatter.format, publisher.publish
    kept: list[Any] = []  # the bundles of kept displays, by identity: not published

    def format(obj: Any, *args: Any, **kwargs: Any) -> Any:
        result = original_format(obj, *args, **kwargs)
        data = result[0] if isinstance(result, tuple) and result else None
        image = _displayed_image(obj, data)
        if image is not None:
            shown.append(image)
            kept.append(data)
        return result

    def publish(*args: Any, **kwargs: Any) -> Any:
        data = kwargs.get("data", args[0] if args else None)
        if data is not None and any(data is bundle for bundle in kept):
            return None
        return original_publish(*args, **kwargs)

    formatter.format = format
    publisher.publish = publish
    try:
        yield shown
    finally:
        for owner, name, value in saved:
            if value is _MISSING:
                with contextlib.suppress(AttributeError):
                    delattr(owner, name)
            else:
                setattr(owner, name, value)


def _shell() -> Any:
    """The running IPython shell, or None (plain Python: nothing displays)."""
    module = sys.modules.get("IPython.core.interactiveshell")
    if module is None or not module.InteractiveShell.initialized():
        return None
    return module.InteractiveShell.instance()


def _displayed_image(obj: Any, data: Any) -> Any:
    """What to send for a displayed object: itself (a figure or image object), the image
    bytes of its display, or its `_repr_png_`; None for a display that is not a picture."""
    from ..prompt.images import is_image_object

    if is_image_object(obj):
        return obj
    if isinstance(data, dict):
        for mime in ("image/png", "image/jpeg"):
            raw = data.get(mime)
            if isinstance(raw, bytes) and raw:
                return raw
            if isinstance(raw, str) and raw:
                return base64.b64decode(raw)
    method = getattr(type(obj), "_repr_png_", None)
    if method is not None:
        png = method(obj)
        if isinstance(png, bytes) and png:
            return png
    return None


def _once(images: list[Any]) -> list[Any]:
    """Each image once: a figure both displayed and still open is one picture."""
    seen: set[int] = set()
    unique = []
    for image in images:
        if id(image) not in seen:
            seen.add(id(image))
            unique.append(image)
    return unique


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
        runs_code=True,
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
            if type(figure).__name__ == "Figure" and type(figure).__module__.startswith(
                "matplotlib"
            ):
                pyplot.close(figure)
