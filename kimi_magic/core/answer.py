"""The record of one call (`Answer`) and how it reads: the footer line, the note on how it
ended, markdown and plain text. The static output, the terminal, history and the notebook's
own repr of an answer all say the same thing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .constants import CHARS_PER_TOKEN
from .invisible import made_visible
from .types import TokenLogprob, ToolCall, Usage


@dataclass
class Answer:
    """What one call produced; partial when `interrupted` or `truncated` is set."""

    text: str = ""
    reasoning: str = ""
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    request_id: str | None = None
    model: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    seconds: float = 0.0
    latency: float | None = None  # seconds to the first token
    interrupted: bool = False
    truncated: bool = False
    parameters: dict[str, object] = field(default_factory=dict)
    choices: list[str] = field(default_factory=list)  # every choice's text when n > 1
    logprobs: list[TokenLogprob] = field(default_factory=list)  # the first choice's tokens
    from_cache: bool = False  # replayed from the local response cache: nothing was paid
    error: str | None = None  # the paragraph of the error that ended the call, if one did

    @property
    def cost(self) -> float:
        """Price of this call in USD."""
        return self.usage.cost

    @property
    def tokens_per_second(self) -> float:
        """Output tokens over the time spent generating (after the first token)."""
        generating = self.seconds - (self.latency or 0.0)
        return self.usage.completion_tokens / generating if generating > 0 else 0.0

    @property
    def complete(self) -> bool:
        return not (self.interrupted or self.truncated or self.error)

    @property
    def ended(self) -> str:
        """How the call ended: complete, interrupted, truncated (cut off mid-answer), error."""
        if self.interrupted:
            return "interrupted"
        if self.truncated:
            return "truncated"
        return "error" if self.error else "complete"

    def __str__(self) -> str:
        return self.text

    def _repr_markdown_(self) -> str:
        return answer_markdown(self)


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


def answer_markdown(answer: Answer, error: str | None = None, context: str = "") -> str:
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
        parts.append(f"Tool call `{call.name}`: `{shown_call_arguments(call.arguments)}`\n")
    note = status_note(answer, error)
    if note:
        parts.append(note + "\n")
    parts.append(f"<sub>{footer_line(answer)}{_gauge(context)}</sub>\n")
    return "\n".join(parts)


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


def _gauge(context: str) -> str:
    return f" · {context}" if context else ""


def tool_calls_plain(answer: Answer) -> str:
    """One line per tool call asked for: `Tool call get_weather: {"city": "Oslo"}` (hidden
    characters in the arguments marked, as the approval view does)."""
    return "\n".join(
        f"Tool call {call.name}: {shown_call_arguments(call.arguments)}"
        for call in answer.tool_calls
    )


def shown_call_arguments(arguments: str) -> str:
    """A call's arguments in the answer's text: hidden characters marked, and code left to
    the one place that shows it whole (the approval view, then the call's block), so the
    user reads it once."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        value = None
    if isinstance(value, dict) and set(value) == {"code"} and isinstance(value["code"], str):
        lines = len(value["code"].splitlines())
        return f"({lines} line{'s' if lines != 1 else ''} of code, shown with the call)"
    return made_visible(arguments)[0]


def answer_plain(answer: Answer, error: str | None = None, context: str = "") -> str:
    """The answer as plain text: text, status and footer."""
    note = status_note(answer, error)
    footer = footer_line(answer) + _gauge(context)
    parts = (answer.text.strip(), tool_calls_plain(answer), note, footer)
    return "\n\n".join(p for p in parts if p)
