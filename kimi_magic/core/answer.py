"""The record of one call (`Answer`) and how it reads: the footer line, the note on how it
ended, markdown and plain text. The static output, the terminal, history and the notebook's
own repr of an answer all say the same thing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import Enum

from .constants import CHARS_PER_TOKEN
from .invisible import made_visible
from .types import TokenLogprob, ToolCall, Usage


class Outcome(str, Enum):
    """How a call ended. The one place its wording lives: the status under the answer, the
    history line, and the note the model reads next time all come from here.

    A str enum, so `answer.ended == "complete"` and JSON (save files, output metadata) keep
    working with the plain value.
    """

    COMPLETE = "complete"
    INTERRUPTED = "interrupted"  # the user stopped it (Stop, an interrupt)
    TOKEN_LIMIT = "token_limit"  # finish reason `length`: max_completion_tokens ran out
    STREAM_ERROR = "stream_error"  # the stream broke off after part of the answer arrived
    ERROR = "error"  # an error ended the call before any answer arrived

    @property
    def status(self) -> str:
        """The markdown line under a partial answer ("" when complete)."""
        return _STATUS[self]

    @property
    def history(self) -> str:
        """The words `%kimi history` adds after a partial answer's usage ("" when complete)."""
        return _HISTORY[self]

    @property
    def cause(self) -> str:
        """Why a partial answer is partial, in a few words ("interrupted"; "" when complete):
        the head of its history words."""
        return _HISTORY[self].split(":", 1)[0]

    @property
    def note_to_model(self) -> str:
        """What the next request says after this answer's text, so the model does not take a
        partial answer for a whole one ("" when complete)."""
        return _NOTE_TO_MODEL[self]

    @property
    def note(self) -> str:
        """The plain sentence `Answer.notes` carries for a partial answer ("" when complete)."""
        words = _HISTORY[self]
        return f"{words[:1].upper()}{words[1:]}." if words else ""


_STATUS = {
    Outcome.COMPLETE: "",
    Outcome.INTERRUPTED: "⏹ **Interrupted**: the answer so far is kept, here and in the "
    "conversation.",
    Outcome.TOKEN_LIMIT: "⚠ **Cut at the token limit** (finish reason `length`): the answer is "
    "partial; raise max_completion_tokens.",
    Outcome.STREAM_ERROR: "⚠ **Truncated**: the stream ended before the answer was finished.",
    Outcome.ERROR: "⚠ **Stopped by an error** (the message is below); the answer so far is kept.",
}
_HISTORY = {
    Outcome.COMPLETE: "",
    Outcome.INTERRUPTED: "interrupted: the answer is partial",
    Outcome.TOKEN_LIMIT: "cut at the token limit: the answer is partial",
    Outcome.STREAM_ERROR: "truncated: the stream broke off, the answer is partial",
    Outcome.ERROR: "stopped by an error: the answer is partial",
}
_NOTE_TO_MODEL = {
    Outcome.COMPLETE: "",
    Outcome.INTERRUPTED: "[This answer was cut short: the user stopped it.]",
    Outcome.TOKEN_LIMIT: "[This answer was cut short: it reached the token limit.]",
    Outcome.STREAM_ERROR: "[This answer was cut short: the connection broke.]",
    Outcome.ERROR: "[This answer was cut short by an error.]",
}


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
    # Through an AI Gateway: {"cache": "HIT" / "MISS" / None, "log_id": ...} from its headers,
    # so the call can be found in the gateway's logs.
    gateway: dict[str, str | None] | None = None
    error: str | None = None  # the paragraph of the error that ended the call, if one did
    # What the caller should know of how the turn went, as the magic shows it: history
    # trimmed, a deprecated parameter, the tool loop's round or cost cap, a partial answer.
    notes: list[str] = field(default_factory=list)

    @property
    def gateway_hit(self) -> bool:
        """The AI Gateway answered from its cache: Workers AI was not called, nothing paid."""
        return bool(self.gateway) and (self.gateway or {}).get("cache") == "HIT"

    @property
    def cost(self) -> float:
        """Price of this call in USD (nothing for an AI Gateway cache hit)."""
        return 0.0 if self.gateway_hit else self.usage.cost

    @property
    def tokens_per_second(self) -> float:
        """Output tokens over the time spent generating (after the first token)."""
        generating = self.seconds - (self.latency or 0.0)
        return self.usage.completion_tokens / generating if generating > 0 else 0.0

    @property
    def complete(self) -> bool:
        """The whole answer arrived: not stopped, not broken off, not cut at the token limit."""
        return self.ended is Outcome.COMPLETE

    @property
    def ended(self) -> Outcome:
        """How the call ended (see `Outcome`)."""
        if self.interrupted:
            return Outcome.INTERRUPTED
        if self.truncated:
            return Outcome.STREAM_ERROR
        if self.error:
            return Outcome.ERROR
        if self.finish_reason == "length":
            return Outcome.TOKEN_LIMIT
        return Outcome.COMPLETE

    @property
    def arrived(self) -> bool:
        """Anything of the answer came: text, reasoning, a tool call or a usage report."""
        return (
            bool(self.text or self.reasoning or self.tool_calls or self.usage.total_tokens)
            or self.from_cache
        )

    def __str__(self) -> str:
        return self.text

    def _repr_markdown_(self) -> str:
        return answer_markdown(self)


def footer_line(answer: Answer) -> str:
    """`in 1,234 (cached 1,000) · out 567 · $0.0012 · 3.2 s · 180 tok/s`"""
    usage = answer.usage
    if not answer.arrived:  # nothing to speak of (an error before the answer): time only
        return f"no answer arrived · {answer.seconds:.1f} s"
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
    return " · ".join(parts + gateway_parts(answer))


def gateway_parts(answer: Answer) -> list[str]:
    """What the AI Gateway said of the call: its cache status and the id of its log entry."""
    if not answer.gateway:
        return []
    cache, log_id = answer.gateway.get("cache"), answer.gateway.get("log_id")
    if answer.gateway_hit:
        parts = ["AI Gateway cache HIT: nothing paid"]
    else:
        parts = [f"AI Gateway cache {cache}" if cache else "through AI Gateway"]
    if log_id:
        parts.append(f"gateway log {log_id}")
    return parts


def status_note(answer: Answer, error: str | None = None) -> str:
    """Why the answer is partial, if it is (the error itself is printed once, by the magic)."""
    return Outcome.ERROR.status if error else answer.ended.status


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
