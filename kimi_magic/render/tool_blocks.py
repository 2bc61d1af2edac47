"""Each tool call as a collapsible block in the cell's output: name, arguments, then the result
or error and the time it took; images the tool returned below it.

A block is one display slot: "running" while the tool runs, replaced once by the static block
when it ends, so it costs two small messages whatever the answer's length (the bounded-bytes
design of the live view). It is plain markdown (`<details>`), so a saved notebook shows it on
GitHub and nbviewer with no widget state.
"""

from __future__ import annotations

import html
import json
from typing import Any

from ..core.invisible import made_visible
from .final_output import MIME_MARKDOWN, MIME_PLAIN

SHOWN_RESULT_CHARS = 4_000  # of a result shown in its block (the model may get more)
SHOWN_ARGUMENT_CHARS = 1_000
STATUS_ICONS = {"ok": "✓", "error": "✗", "denied": "⊘", "running": "…"}


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit:,} more]"


def shown_arguments(arguments: str) -> str:
    """The arguments as the user reads them: code as code (hidden characters marked), JSON
    pretty-printed."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return _short(arguments, SHOWN_ARGUMENT_CHARS)
    if isinstance(value, dict) and set(value) == {"code"} and isinstance(value["code"], str):
        return made_visible(value["code"])[0]
    return _short(json.dumps(value, indent=1, ensure_ascii=False), SHOWN_ARGUMENT_CHARS)


def block_markdown(
    name: str,
    arguments: str,
    status: str,
    text: str = "",
    seconds: float | None = None,
    show_arguments: bool = True,
) -> str:
    """One tool call as a `<details>` block (open while it runs, folded once it ended); a
    call waiting for approval leaves its arguments to the approval view."""
    icon = STATUS_ICONS.get(status, "")
    took = f" · {seconds:.2f} s" if seconds is not None else ""
    summary = f"{icon} tool <code>{html.escape(name)}</code> · {status}{took}"
    language = "python" if name == "run_python" else "json"
    parts = [f"<details{' open' if status == 'running' else ''}><summary>{summary}</summary>\n"]
    if show_arguments:
        parts.append(f"```{language}\n{shown_arguments(arguments)}\n```\n")
    else:
        parts.append("*Waiting for approval: the approval view below shows what would run.*\n")
    if text:
        parts.append(f"```text\n{_short(text, SHOWN_RESULT_CHARS)}\n```\n")
    parts.append("</details>\n")
    return "\n".join(parts)


def block_plain(name: str, status: str, text: str = "", seconds: float | None = None) -> str:
    took = f" ({seconds:.2f} s)" if seconds is not None else ""
    head = f"[tool {name}: {status}{took}]"
    return f"{head}\n{_short(text, SHOWN_RESULT_CHARS)}" if text else head


class ToolBlocks:
    """The blocks of one turn's tool calls, by call id."""

    def __init__(self) -> None:
        self._handles: dict[str, Any] = {}

    def started(self, call_id: str, name: str, arguments: str, show_arguments: bool = True) -> None:
        from IPython.display import display

        data = {
            MIME_MARKDOWN: block_markdown(
                name, arguments, "running", show_arguments=show_arguments
            ),
            MIME_PLAIN: block_plain(name, "running"),
        }
        self._handles[call_id] = display(data, raw=True, display_id=True)

    def finished(
        self,
        call_id: str,
        name: str,
        arguments: str,
        status: str,
        text: str,
        seconds: float,
        images: tuple[str, ...] = (),
    ) -> None:
        from IPython.display import display

        data = {
            MIME_MARKDOWN: block_markdown(name, arguments, status, text, seconds),
            MIME_PLAIN: block_plain(name, status, text, seconds),
        }
        handle = self._handles.pop(call_id, None)
        if handle is not None:
            handle.update(data, raw=True)
        else:
            display(data, raw=True)
        for url in images:  # the user sees what the model was shown
            display(_image_bundle(url), raw=True)


def _image_bundle(url: str) -> dict[str, str]:
    head, _, payload = url.partition(",")
    mime = head[5:].split(";")[0] or "image/png"
    return {mime: payload, MIME_PLAIN: f"<{mime} image>"}
