"""`%kimi explain` and `%kimi fix`: the last error (or cell N's, or a caught exception kept in
a variable) with its cell source,
traceback and the values of the names its failing line uses, sent as a question."""

from __future__ import annotations

from typing import Any

from ..core.errors import KimiError
from ..core.secrets import Redactor
from ..prompt.error_capture import CellError, caught_error
from ..prompt.variables import render

TRACEBACK_TOKENS = 2_000

EXPLAIN = (
    "Explain this error from my notebook: what went wrong, why, and how to fix it. "
    "Be brief and concrete."
)
FIX = (
    "Fix this error from my notebook. Say in one or two sentences what was wrong, then give "
    "the corrected code of the whole cell in one ```python block."
)


def error_question(error: CellError, fix: bool, variable_tokens: int) -> str:
    """The question about `error`: cell source, traceback, failing line and its values."""
    parts = [
        FIX if fix else EXPLAIN,
        f"Cell [{error.execution_count}]:\n```python\n{error.source.rstrip()}\n```",
    ]
    trace = render(error.traceback_text, "traceback", TRACEBACK_TOKENS).text
    parts.append(f"Traceback:\n```\n{trace}\n```")
    if error.frame_line:
        parts.append(f"The failing line: `{error.frame_line}`")
    if error.frame_names:
        budget = max(100, variable_tokens // max(1, len(error.frame_names)))
        shown = [
            f"### {name}\n{render(value, name, budget).text}"
            for name, value in error.frame_names.items()
        ]
        parts.append("Values of the names on that line when it failed:\n\n" + "\n\n".join(shown))
    # The failing line may hold the token itself (`headers = {"Authorization": TOKEN}`): its
    # value, and any secret-looking name's, never goes into the question.
    return Redactor.collect(namespace=error.frame_names).redact("\n\n".join(parts)).text


def explain_command(host: Any, rest: str, fix: bool = False) -> None:
    """`%kimi explain [N | NAME] [flags]` / `%kimi fix [N | NAME] [flags]`: flags as the magic
    reads them; NAME is a variable holding a caught exception."""
    args, which = host.parse(rest)
    which = which.strip()
    errors = host.context.errors
    if which.isidentifier():
        error = _kept_error(host, which, fix)
    elif which:
        if not which.isdigit():
            raise KimiError(
                f"`%kimi {'fix' if fix else 'explain'} {which}`: give a cell number "
                "(the N of In [N]), the name of a variable holding a caught exception, or "
                "nothing for the last error."
            )
        try:
            error = errors[int(which)]
        except KeyError as missing:
            raise KimiError(f"Nothing to explain: {missing.args[0]}.") from None
    else:
        error = errors.last()
    args.no_interpolate = True  # tracebacks and code are full of braces: send them as they are
    if fix:
        args.format = "code"
    host.ask(error_question(error, fix, host.variable_tokens), args)


def _kept_error(host: Any, name: str, fix: bool) -> CellError:
    """The exception a notebook caught and kept in the variable `name`."""
    namespace = host.shell.user_ns
    value = namespace.get(name)
    if not isinstance(value, BaseException):
        kind = "not defined" if name not in namespace else f"of type {type(value).__name__}"
        raise KimiError(
            f"`%kimi {'fix' if fix else 'explain'} {name}`: {name} is {kind}, not an exception. "
            "Keep a caught one with `except Exception as error: kept = error`, or give a cell "
            "number, or nothing for the last error."
        )
    cells = [str(cell) for cell in namespace.get("In") or []]
    return caught_error(value, namespace, cells)


def fix_command(host: Any, rest: str) -> None:
    explain_command(host, rest, fix=True)
