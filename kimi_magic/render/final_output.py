"""The static output that replaces the live view: markdown + plain text + provenance metadata.

It is what a saved notebook shows on GitHub, nbviewer and VS Code, with no widget state.
"""

from __future__ import annotations

import re
from typing import Any

from ..core.constants import CHARS_PER_TOKEN
from ..core.types import Answer

MIME_MARKDOWN = "text/markdown"
MIME_PLAIN = "text/plain"
METADATA_KEY = "kimi_magic"


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_MATH = re.compile(r"^ {0,3}\$\$\s*$")


def close_open_blocks(text: str) -> str:
    """`text` with a code fence or `$$` math block it leaves open closed at the end.

    An answer cut short (token limit, Stop, a broken stream) can end inside a code block;
    without this the status mark and footer added after it would show as code.
    """
    fence: str | None = None  # the opening fence's marker, e.g. "````" or "~~~"
    math = False
    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence is not None:
            marker = match.group(1) if match is not None and not match.group(2).strip() else ""
            if marker[:1] == fence[0] and len(marker) >= len(fence):
                fence = None
        elif math:
            math = not _MATH.match(line)
        elif match is not None and not (match.group(1)[0] == "`" and "`" in match.group(2)):
            fence = match.group(1)
        elif _MATH.match(line):
            math = True
    if fence is not None:
        return text.rstrip("\n") + "\n" + fence
    if math:
        return text.rstrip("\n") + "\n$$"
    return text


def footer_line(answer: Answer) -> str:
    """`in 1,234 (cached 1,000) · out 567 · $0.0012 · 3.2 s · 180 tok/s`"""
    usage = answer.usage
    if usage.total_tokens == 0 and not answer.from_cache:
        # Usage comes with the last chunk: a stream cut short (or a server that sends none)
        # reports nothing, so estimate the output from its length.
        produced = len(answer.text) + len(answer.reasoning)
        why = "for an answer cut short" if not answer.complete else "by the server"
        return (
            f"usage not reported {why} · out ≈ {-(-produced // CHARS_PER_TOKEN):,} (estimated) · "
            f"{answer.seconds:.1f} s"
        )
    parts = [
        f"in {usage.prompt_tokens:,}"
        + (f" (cached {usage.cached_tokens:,})" if usage.cached_tokens else ""),
        f"out {usage.completion_tokens:,}",
        f"${answer.cost:.4f}",
        f"{answer.seconds:.1f} s",
    ]
    if answer.from_cache:
        return "from the local cache, nothing sent or paid · first asked: " + " · ".join(parts[:3])
    if answer.tokens_per_second:
        parts.append(f"{answer.tokens_per_second:,.0f} tok/s")
    return " · ".join(parts)


def status_note(answer: Answer, error: str | None = None) -> str:
    """Why the answer is partial, if it is."""
    if error:
        # The error itself is printed once, under the output, by the magic.
        return "⚠ **Stopped by an error** (the message is below); the answer so far is kept."
    if answer.interrupted:
        return "⏹ **Interrupted**: the answer so far is kept, here and in the conversation."
    if answer.truncated:
        return "⚠ **Truncated**: the stream ended before the answer was finished."
    if answer.finish_reason == "length":
        return "⚠ **Cut at the token limit** (finish reason `length`): raise max_completion_tokens."
    return ""


def answer_markdown(answer: Answer, error: str | None = None) -> str:
    """The answer as markdown: reasoning folded, text, tool calls, status, footer."""
    parts = []
    if answer.reasoning.strip():
        parts.append(
            "<details><summary>Reasoning</summary>\n\n"
            f"{close_open_blocks(answer.reasoning.strip())}\n\n</details>\n"
        )
    if answer.text.strip():
        parts.append(close_open_blocks(answer.text.rstrip()) + "\n")
    for call in answer.tool_calls:
        parts.append(f"Tool call `{call.name}`: `{call.arguments}`\n")
    note = status_note(answer, error)
    if note:
        parts.append(note + "\n")
    parts.append(f"<sub>{footer_line(answer)}</sub>\n")
    return "\n".join(parts)


def tool_calls_plain(answer: Answer) -> str:
    """One line per tool call asked for: `Tool call get_weather: {"city": "Oslo"}`."""
    return "\n".join(f"Tool call {call.name}: {call.arguments}" for call in answer.tool_calls)


def answer_plain(answer: Answer, error: str | None = None) -> str:
    """The answer as plain text: text, status and footer."""
    note = status_note(answer, error)
    parts = (answer.text.strip(), tool_calls_plain(answer), note, footer_line(answer))
    return "\n\n".join(p for p in parts if p)


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
        "from_cache": answer.from_cache,
    }


def output_bundle(
    answer: Answer, endpoint_kind: str | None = None, error: str | None = None
) -> tuple[dict[str, str], dict[str, Any]]:
    """(data, metadata) for a display_data output."""
    data = {MIME_MARKDOWN: answer_markdown(answer, error), MIME_PLAIN: answer_plain(answer, error)}
    return data, {METADATA_KEY: provenance(answer, endpoint_kind)}
