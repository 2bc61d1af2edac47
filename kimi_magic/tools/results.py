"""What a tool call gave back, as the model will read it: bounded text and images.

The schema allows only text in `tool` messages (docs/design.md section 4), so images ride along as
data URLs and the loop sends them in a following user message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.constants import TOOL_RESULT_CHARS
from ..core.secrets import redact_then, scrub
from ..core.types import ToolCall


@dataclass(frozen=True)
class ToolOutput:
    """What a tool may return to give the model text and images together.

    >>> return ToolOutput("The plot:", images=(fig,))   # figures, PIL images, bytes, data URLs
    """

    text: str = ""
    images: Sequence[Any] = ()
    error: bool = False  # the text is an error the model should read as one
    denied: bool = False  # the user said no (run_python)
    code: str | None = None  # the code that ran (run_python)


@dataclass(frozen=True)
class ToolResult:
    """One call's outcome: the text the model reads, images for the following user message,
    whether it failed or was denied, how long it took, and the code a run_python ran."""

    call: ToolCall
    text: str
    images: tuple[str, ...] = ()  # data URLs
    error: bool = False
    denied: bool = False
    seconds: float = 0.0
    code: str | None = None  # run_python's approved code (the agent cell offers it at the end)
    image_labels: tuple[str, ...] = field(default=(), compare=False)

    @property
    def status(self) -> str:
        """ok, error or denied (what the live view and the history show)."""
        return "denied" if self.denied else "error" if self.error else "ok"


def clip(text: str, limit: int = TOOL_RESULT_CHARS) -> str:
    """`text` with the turn's secrets redacted, then cut to `limit` characters, saying how
    much was left out (redacted whole first: a secret across the cut never leaks in part)."""
    text = redact_then(text)
    if len(text) <= limit:
        return text
    note = f"\n[cut: showing the first {limit:,} of {len(text):,} characters]"
    return text[: max(0, limit - len(note))] + note


def as_output(value: Any) -> ToolOutput:
    """A tool's return value as text + image objects: strings as they are, JSON-able values as
    JSON, images as images, anything else by the same rendering `{name}` uses."""
    from ..prompt.images import is_image_object

    if isinstance(value, ToolOutput):
        return value
    if isinstance(value, str):
        return ToolOutput(value)
    if is_image_object(value):
        return ToolOutput("", images=(value,))
    if value is None or isinstance(value, (bool, int, float, list, dict, tuple)):
        try:
            # A `password` key's value, at any depth, is not returned.
            return ToolOutput(json.dumps(scrub(value), ensure_ascii=False, default=str))
        except (TypeError, ValueError):  # e.g. a dict with non-string keys of odd types
            pass
    from ..prompt.variables import render

    return ToolOutput(render(value).text)


def images_as_urls(images: Sequence[Any], label: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Each image as a fitted data URL, with its label; an image that cannot be read becomes
    a label saying why (the model still gets the text)."""
    from ..core.errors import KimiError
    from ..prompt.images import fit, image_from_object

    urls: list[str] = []
    labels: list[str] = []
    for i, image in enumerate(images, start=1):
        name = f"{label} image {i}"
        try:
            fitted = fit(image_from_object(image, name))
        except KimiError as error:
            labels.append(f"[{name} could not be sent: {error}]")
            continue
        urls.append(fitted.data_url)
        labels.append(f"[{name}: {fitted.size_text}]")
    return tuple(urls), tuple(labels)
