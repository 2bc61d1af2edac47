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
