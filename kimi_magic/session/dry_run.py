"""`--dry-run`: exactly what would be sent (messages, images as thumbnails, parameters), the
estimated prompt tokens and their cost; nothing is sent."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.constants import PRICE_INPUT_PER_M, THUMBNAIL_PX
from ..prompt.images import OWN_OUTPUT_KEY, Image


@dataclass(frozen=True)
class DryRun:
    """A request that was not sent: where to, the body, the images in it, the estimate."""

    url: str
    body: dict[str, Any]
    images: Sequence[Image]
    prompt_tokens: int  # estimated: every message sent, history included

    @property
    def cost(self) -> float:
        """USD for the prompt tokens at the uncached input price (an upper bound)."""
        return self.prompt_tokens * PRICE_INPUT_PER_M / 1_000_000

    def shown_body(self) -> dict[str, Any]:
        """The body with each image's data URL shortened to its type and size."""
        return _elide_images(self.body)

    @property
    def redacted(self) -> list[str]:
        """What was redacted as secret, in the order it appears (from the markers)."""
        text = json.dumps(self.body.get("messages") or [], ensure_ascii=False)
        return _REDACTED.findall(text)

    def redaction_note(self) -> str:
        found = self.redacted
        if not found:
            return ""
        return (
            f"{len(found)} secret value{'s' if len(found) > 1 else ''} redacted, marked "
            f"[redacted: …] below: {'; '.join(dict.fromkeys(found))}."
        )

    def summary(self) -> str:
        note = self.redaction_note()
        return (
            f"Dry run, nothing was sent. POST {self.url}\n"
            f"Estimated prompt: about {self.prompt_tokens:,} tokens, "
            f"${self.cost:.4f} at ${PRICE_INPUT_PER_M:.2f} per million input tokens "
            "(less if the prefix is cached)." + (f"\n{note}" if note else "")
        )

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, str], dict[str, Any]]:
        body = json.dumps(self.shown_body(), indent=2, ensure_ascii=False)
        plain = f"{self.summary()}\n\n{body}"
        thumbs = "".join(
            f'<figure style="display:inline-block;margin:4px"><img src="{i.data_url}" '
            f'style="max-width:{THUMBNAIL_PX}px;max-height:{THUMBNAIL_PX}px;border:1px solid #ccc">'
            f"<figcaption style='font-size:smaller'>{html.escape(i.label)}<br>"
            f"{html.escape(i.size_text)}</figcaption></figure>"
            for i in self.images
        )
        page = (
            f"<div><p><b>Dry run</b>: nothing was sent. <code>POST "
            f"{html.escape(self.url)}</code></p><p>Estimated prompt: about "
            f"<b>{self.prompt_tokens:,}</b> tokens, <b>${self.cost:.4f}</b> at "
            f"${PRICE_INPUT_PER_M:.2f} per million input tokens (less if the prefix is "
            f"cached).</p>{self._redaction_html()}{thumbs}"
            f"<pre style='white-space:pre-wrap'>{html.escape(body)}</pre>"
            "</div>"
        )
        return {"text/plain": plain, "text/html": page}, {OWN_OUTPUT_KEY: {"dry_run": True}}

    def _redaction_html(self) -> str:
        note = self.redaction_note()
        return f"<p>&#128274; {html.escape(note)}</p>" if note else ""


_REDACTED = re.compile(r"\[redacted: ([^\]]+)\]")


def _elide_images(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _elide_images(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_elide_images(v) for v in value]
    if isinstance(value, str) and value.startswith("data:") and ";base64," in value:
        head, _, payload = value.partition(",")
        return f"{head},… ({len(payload) * 3 // 4:,} bytes)"
    return value
