"""Keeps `%kimi what is a Series?` a question: IPython would read the trailing `?` as help."""

from __future__ import annotations

import re

_QUESTION_LINE = re.compile(r"^%kimi[ \t]+(?P<rest>\S.*?)\s*$")


def protect_question_marks(lines: list[str]) -> list[str]:
    """Turn each `%kimi ...?` line into the line-magic call before help parsing sees it (also
    after code in the same cell: `plt.plot(y)` then `%kimi --image last why?`)."""
    if not lines or lines[0].startswith("%%"):
        return lines  # a cell magic's body is its own business
    return [_protected(line) for line in lines]


def _protected(line: str) -> str:
    match = _QUESTION_LINE.match(line)
    if match is None or not match.group("rest").endswith("?"):
        return line
    return f"get_ipython().run_line_magic('kimi', {match.group('rest')!r})\n"
