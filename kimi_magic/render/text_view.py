"""The plain view of an answer while it streams, for frontends not known to show widgets.

nbclient (and so nbconvert and papermill), a plain Jupyter client, VS Code without its widget
renderer: they all show display-id updates of markdown. So the slot holds the text so far as
text/markdown + text/plain, replaced through its display id, and ends in the same static
output as the widget view. No widget model is ever opened, so a headless client has nothing to
echo back to the kernel and nothing to save as widget state.

Each update re-sends the whole text, so updates get rarer as the text grows: at most
MAX_UPDATES_PER_SECOND, and never more than about _BYTES_PER_SECOND of text a second. The
bytes sent for an answer then grow with its length and duration, not with its square.
"""

from __future__ import annotations

import html
import time

from IPython.display import display

from ..core.constants import MAX_UPDATES_PER_SECOND
from ..core.types import Retrying, Usage
from .final_output import MIME_MARKDOWN, MIME_PLAIN, FinalSlot

_MIN_INTERVAL_S = 1.0 / MAX_UPDATES_PER_SECOND
_BYTES_PER_SECOND = 20_000
_WAITING = "waiting for the first token…"


class TextView(FinalSlot):
    """Reasoning (in a fold once the answer starts), the answer so far and a status line."""

    stop_requested = False  # no Stop button: a kernel interrupt stops the answer

    def __init__(self) -> None:
        super().__init__()
        self._reasoning: list[str] = []
        self._text: list[str] = []
        self._pending = False
        self._shown_chars = 0
        self._last_render = 0.0
        self._started = time.perf_counter()
        self._status = _WAITING

    def show(self) -> None:
        self.handle = display(self._bundle(), raw=True, display_id=True)

    def add_reasoning(self, text: str) -> None:
        self._reasoning.append(text)
        self._pending = True

    def add_text(self, text: str) -> None:
        self._text.append(text)
        self._pending = True

    def show_retrying(self, event: Retrying) -> None:
        """Say at once that the call waits to be retried, and why."""
        self._status = event.describe()
        self._send()

    def until_due(self) -> float:
        """Seconds until the view may show new text again (0: now)."""
        interval = max(_MIN_INTERVAL_S, self._shown_chars / _BYTES_PER_SECOND)
        return max(0.0, self._last_render + interval - time.perf_counter())

    def render(self, usage: Usage) -> None:
        if not self._pending or self.until_due() > 0:
            return
        phase = "answering" if self._text else "thinking"
        tokens = usage.completion_tokens
        counted = f" · {tokens:,} tokens" if tokens else ""
        self._status = f"{phase}… {time.perf_counter() - self._started:.0f} s{counted}"
        self._send()

    def _send(self) -> None:
        self._pending = False
        self._last_render = time.perf_counter()
        bundle = self._bundle()
        self._shown_chars = len(bundle[MIME_MARKDOWN])
        if self.handle is not None:
            self.handle.update(bundle, raw=True)

    def _bundle(self) -> dict[str, str]:
        text = "".join(self._text)
        reasoning = "".join(self._reasoning)
        status = f"<small>{html.escape(self._status)}</small>"
        parts = []
        if reasoning:
            fold = "" if text else " open"  # folds when the answer starts, as the widget view
            parts.append(f"<details{fold}><summary>Thinking</summary>\n\n{reasoning}\n\n</details>")
        if text:
            parts.append(text)
        parts.append(status)
        plain = "\n\n".join(p for p in (text or reasoning, self._status) if p)
        return {MIME_MARKDOWN: "\n\n".join(parts), MIME_PLAIN: plain}
