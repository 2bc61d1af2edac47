"""Keeps `%kimi what is a Series?` a question: IPython would read the trailing `?` as help."""

from __future__ import annotations

import re

_QUESTION_LINE = re.compile(r"^%kimi[ \t]+(?P<rest>\S.*?)\s*$")


def protect_question_marks(lines: list[str]) -> list[str]:
    """Turn a one-line `%kimi ...?` cell into the line-magic call before help parsing sees it."""
    if len(lines) != 1:
        return lines
    match = _QUESTION_LINE.match(lines[0])
    if match is None or not match.group("rest").endswith("?"):
        return lines
    return [f"get_ipython().run_line_magic('kimi', {match.group('rest')!r})\n"]
