"""`%kimi explain` and `%kimi fix`: the last error (or cell N's) with its cell source,
traceback and the values of the names its failing line uses, sent as a question."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.errors import KimiError
from ..core.secrets import Redactor
from ..prompt.error_capture import CellError
from ..prompt.variables import render
from .commands import command

if TYPE_CHECKING:
    from .magics import KimiMagics

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


def _run(magics: KimiMagics, rest: str, fix: bool) -> None:
    args, which = magics._parse(rest, None)
    which = which.strip()
    errors = magics.context.errors
    if which:
        if not which.isdigit():
            raise KimiError(
                f"`%kimi {'fix' if fix else 'explain'} {which}`: give a cell number "
                "(the N of In [N]), or nothing for the last error."
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
    magics.ask(error_question(error, fix, magics.variable_tokens), args)


@command("explain", "explain the last error: its cell, traceback and values (`%kimi explain N`)")
def _explain(magics: KimiMagics, rest: str) -> None:
    _run(magics, rest, fix=False)


@command("fix", "explain the last error and put corrected code in a new cell (`%kimi fix N`)")
def _fix(magics: KimiMagics, rest: str) -> None:
    _run(magics, rest, fix=True)
