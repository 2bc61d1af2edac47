"""`-f code` and `%kimi fix`: the code of an answer into a new cell, or a copy button."""

from __future__ import annotations

import html
import json
import re
from typing import Any

_BLOCK = re.compile(
    r"^[ \t]*```[ \t]*([\w+-]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.DOTALL | re.MULTILINE
)
_PYTHON = ("", "python", "py", "python3", "ipython", "ipython3")


def extract_code(text: str) -> str:
    """The answer's Python code blocks joined (any code blocks when none is Python)."""
    blocks = [(lang.lower(), body.rstrip()) for lang, body in _BLOCK.findall(text)]
    python = [body for lang, body in blocks if lang in _PYTHON]
    chosen = python or [body for _, body in blocks]
    return "\n\n".join(b for b in chosen if b.strip())


def copy_button_html(code: str) -> str:
    """The code with a Copy button, for frontends that cannot make a new cell."""
    return (
        "<div><button onclick='navigator.clipboard.writeText("
        + html.escape(json.dumps(code))
        + ")'>Copy code</button> <span style='font-size:smaller'>(if no new cell appeared "
        "below)</span><pre>" + html.escape(code) + "</pre></div>"
    )


def code_to_new_cell(shell: Any, code: str) -> bool:
    """Put `code` into a new cell below (Jupyter's set_next_input); False if not possible."""
    setter = getattr(shell, "set_next_input", None)
    if setter is None:
        return False
    try:
        setter(code, replace=False)
    except TypeError:  # shells whose set_next_input has no `replace`
        setter(code)
    return True


def where_code_went(code: str, placed: bool) -> str:
    """What a terminal is told: the code is in the next prompt (or here, to copy)."""
    if placed:
        return f"The code is in your next prompt, ready to edit and run:\n\n```python\n{code}\n```"
    return f"Copy this code to run it:\n\n```python\n{code}\n```"
