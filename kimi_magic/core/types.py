"""Typed values passed between the stages: usage, stream events, tool calls and the answer."""

from __future__ import annotations

from dataclasses import dataclass

from .constants import PRICE_CACHED_INPUT_PER_M, PRICE_INPUT_PER_M, PRICE_OUTPUT_PER_M


@dataclass(frozen=True)
class Usage:
    """Token counts of one call (or a sum of calls); `cached_tokens` is part of `prompt_tokens`."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost(self) -> float:
        """Price in USD at the model page's rates."""
        uncached = max(self.prompt_tokens - self.cached_tokens, 0)
        return (
            uncached * PRICE_INPUT_PER_M
            + self.cached_tokens * PRICE_CACHED_INPUT_PER_M
            + self.completion_tokens * PRICE_OUTPUT_PER_M
        ) / 1_000_000

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.cached_tokens + other.cached_tokens,
            self.completion_tokens + other.completion_tokens,
        )


# Stream events: what the adapter makes of the wire chunks, in arrival order.
@dataclass(frozen=True)
class ReasoningDelta:
    text: str
    choice: int = 0


@dataclass(frozen=True)
class TextDelta:
    text: str
    choice: int = 0


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a tool call: the first carries id and name, later ones append arguments."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    choice: int = 0


@dataclass(frozen=True)
class TokenLogprob:
    """One answer token's log probability and the top alternatives the server returned."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class LogprobsDelta:
    """Log probabilities of the tokens of a piece of answer (when `logprobs` was asked for)."""

    tokens: tuple[TokenLogprob, ...]
    choice: int = 0


@dataclass(frozen=True)
class UsageReport:
    usage: Usage


@dataclass(frozen=True)
class Finish:
    reason: str | None
    choice: int = 0


@dataclass(frozen=True)
class ResponseStarted:
    """The server accepted the request; carries what identifies the reply."""

    request_id: str | None
    model: str | None = None
    # Through an AI Gateway: its cf-aig-cache-status (HIT / MISS) and cf-aig-log-id.
    gateway_cache: str | None = None
    gateway_log_id: str | None = None


@dataclass(frozen=True)
class Retrying:
    """The request failed in a way worth trying again; the client waits `delay` seconds first.

    Not part of the answer: renderers show it ("rate limited: retrying in 20 s, attempt 2 of
    4"), the answer and the response cache ignore it.
    """

    attempt: int  # the attempt about to be made, counting the first as 1
    of: int  # attempts in all, the first included
    delay: float
    reason: str  # "rate limited", "server error 503", "connection failed", ...

    def describe(self) -> str:
        return f"{self.reason}: retrying in {self.delay:.0f} s, attempt {self.attempt} of {self.of}"


StreamEvent = (
    ReasoningDelta
    | TextDelta
    | ToolCallDelta
    | UsageReport
    | Finish
    | ResponseStarted
    | LogprobsDelta
    | Retrying
)


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str
