"""After a whole answer: parse it (`--json` / `--schema`), store it (`-o NAME`), put its code
in a new cell (`-f code`). And the flags of one call as the session's `Question`."""

from __future__ import annotations

import argparse
from typing import Any

from ..core.answer import Answer
from ..core.errors import StructuredOutputError
from ..prompt.structured import OutputSpec
from ..render.frontend import in_kernel, show_markdown
from ..session.turn import Question
from .code_cells import code_to_new_cell, copy_button_html, extract_code, where_code_went
from .flags import flag_settings

# Where the raw text of a structured answer that failed to parse is kept.
RAW_ANSWER_NAME = "kimi_raw"


def question_from(text: str, args: argparse.Namespace) -> Question:
    """The session's question for the magic's text and flags."""
    return Question(
        text,
        chat=args.chat,
        new=bool(args.new),
        flags=flag_settings(args),
        variables=args.var or (),
        images=args.image or (),
        interpolate=not args.no_interpolate,
        json=bool(args.json),
        schema=args.schema,
        refresh=bool(args.refresh),
    )


def deliver(
    namespace: dict[str, Any], answer: Answer, args: argparse.Namespace, output: OutputSpec | None
) -> str | None:
    """Parse, store and place a whole answer; returns an error paragraph for the magic, or
    None."""
    value: Any = answer.text
    problem = None
    if output is not None and answer.text:
        try:
            value = output.parse(answer.text)
        except StructuredOutputError as error:
            namespace[RAW_ANSWER_NAME] = error.raw
            problem = (
                f"{error} The raw text is shown above and kept in the variable "
                f"`{RAW_ANSWER_NAME}`; ask again, or relax the schema."
            )
            value = None
    if args.output and problem is None:
        namespace[args.output] = value
    if args.format == "code":
        show_code(answer.text)
    return problem


def show_code(text: str) -> None:
    """The answer's code into a new cell below; in a kernel also a copy button."""
    from IPython import get_ipython
    from IPython.display import HTML, display

    code = extract_code(text)
    if not code:
        show_markdown("*The answer has no code block to put in a new cell.*")
        return
    placed = code_to_new_cell(get_ipython(), code)
    if in_kernel():
        display(HTML(copy_button_html(code)))
    else:
        show_markdown(where_code_went(code, placed))
