"""The static output that replaces the live view: markdown + plain text + provenance metadata.

It is what a saved notebook shows on GitHub, nbviewer and VS Code, with no widget state.
"""

from __future__ import annotations

from typing import Any

from ..core.answer import Answer, answer_markdown, answer_plain

MIME_MARKDOWN = "text/markdown"
MIME_PLAIN = "text/plain"
METADATA_KEY = "kimi_magic"


def provenance(answer: Answer, endpoint_kind: str | None = None) -> dict[str, Any]:
    """What produced this answer; never the token (it is not in any of these fields)."""
    usage = answer.usage
    return {
        "model": answer.model,
        "endpoint": endpoint_kind,
        "parameters": {k: v for k, v in answer.parameters.items() if k != "messages"},
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "cached_tokens": usage.cached_tokens,
            "completion_tokens": usage.completion_tokens,
        },
        "cost_usd": round(answer.cost, 8),
        "seconds": round(answer.seconds, 3),
        "latency_seconds": None if answer.latency is None else round(answer.latency, 3),
        "request_id": answer.request_id,
        "finish_reason": answer.finish_reason,
        "interrupted": answer.interrupted,
        "truncated": answer.truncated,
        "ended": answer.ended,
        "from_cache": answer.from_cache,
        # AI Gateway's cache status and log id (None when the call went direct)
        "gateway": dict(answer.gateway) if answer.gateway else None,
    }


def output_bundle(
    answer: Answer, endpoint_kind: str | None = None, error: str | None = None, context: str = ""
) -> tuple[dict[str, str], dict[str, Any]]:
    """(data, metadata) for a display_data output; `context` is the gauge for the footer."""
    data = {
        MIME_MARKDOWN: answer_markdown(answer, error, context),
        MIME_PLAIN: answer_plain(answer, error, context),
    }
    return data, {METADATA_KEY: provenance(answer, endpoint_kind)}


class FinalSlot:
    """A view's display slot and how it ends: the static output replaces whatever the view
    showed, through the slot's display id. The last output is kept, so it can be published
    again from another cell (`republish`): a headless client such as nbclient reads only the
    messages of the cell it runs, and a background answer ends after its own cell did."""

    def __init__(self) -> None:
        self.handle: Any = None  # IPython's DisplayHandle, once shown
        self.final: tuple[dict[str, str], dict[str, Any]] | None = None

    def end(
        self, call: Any, context: str = "", keep_error: bool = False, problem: str = ""
    ) -> None:
        """The static answer replaces the view; a call that failed before any of the answer
        arrived leaves nothing (the magic prints its error), or with `keep_error` the error.
        `problem` (e.g. a background answer that could not be stored) is said under it."""
        answer = call.answer
        if call.error is not None and not (answer.text or answer.reasoning or answer.tool_calls):
            if keep_error:
                text = f"⚠ {call.error}"
                self._replace({MIME_MARKDOWN: text, MIME_PLAIN: text}, {})
                self.close()
            else:
                self.discard()
            return
        error = str(call.error) if call.error else None
        if not problem:
            self.finish(answer, call.endpoint_kind, error, context)
            return
        data, metadata = output_bundle(answer, call.endpoint_kind, error, context)
        data = {mime: f"{text.rstrip()}\n\n⚠ {problem}\n" for mime, text in data.items()}
        self._replace(data, metadata)
        self.close()

    def finish(
        self,
        answer: Answer,
        endpoint_kind: str | None,
        error: str | None = None,
        context: str = "",
    ) -> None:
        """Replace the view by the static markdown output, then free what the view held."""
        data, metadata = output_bundle(answer, endpoint_kind, error, context)
        self._replace(data, metadata)
        self.close()

    def discard(self) -> None:
        """An error before anything arrived: leave no empty view behind."""
        self._replace({MIME_PLAIN: ""}, {})
        self.close()

    def republish(self) -> None:
        """Publish the final output again, from the cell that runs now."""
        if self.final is not None:
            self._replace(*self.final)

    def close(self) -> None:
        """Free what the view held (widgets); nothing for a plain view."""

    def _replace(self, data: dict[str, str], metadata: dict[str, Any]) -> None:
        self.final = (data, metadata)
        if self.handle is not None:
            self.handle.update(data, metadata=metadata, raw=True)
