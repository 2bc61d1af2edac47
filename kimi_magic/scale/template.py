"""The per-item prompt: `{column}` (a row's value) or `{item}` (a list element) in a template."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..core.errors import ConfigurationError

# `{{` and `}}` are literal braces; `{name}` is a field (any text but braces, so a column
# called "unit price" works too).
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]+)\}")


class Template:
    """A template split once into literal text and field names, rendered per item."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._parts: list[tuple[bool, str]] = []  # (is_field, literal text or field name)
        position = 0
        for match in _TOKEN.finditer(text):
            self._parts.append((False, text[position : match.start()]))
            token = match.group(0)
            if token in ("{{", "}}"):
                self._parts.append((False, token[0]))
            else:
                self._parts.append((True, match.group(1).strip()))
            position = match.end()
        self._parts.append((False, text[position:]))
        self.fields = tuple(dict.fromkeys(name for is_field, name in self._parts if is_field))

    def check(self, available: Iterable[str]) -> None:
        """Refuse, before anything is sent, a field no item can fill."""
        names = [str(name) for name in available]
        missing = [name for name in self.fields if name not in names]
        if missing:
            shown = ", ".join("{" + n + "}" for n in names[:20]) or "(none)"
            raise ConfigurationError(
                f"The template names {', '.join('{' + m + '}' for m in missing)}, which the "
                f"items do not have. Available: {shown}. Fix the template (write {{{{ and }}}} "
                "for literal braces) and run again; nothing was sent."
            )

    def render(self, values: Mapping[str, Any]) -> str:
        """The prompt for one item."""
        return "".join(
            format_value(values[text]) if is_field else text for is_field, text in self._parts
        )


def format_value(value: Any) -> str:
    """A cell value as prompt text: strings as they are, missing values empty, the rest
    as JSON where that reads better than repr."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    if type(value).__name__ in ("NaTType", "NAType"):  # pandas' missing values
        return ""
    return str(value)
