"""Folds stream events into an `Answer`, so every consumer sees the same totals."""

from __future__ import annotations

import time
from typing import Any

from .types import (
    Answer,
    Finish,
    LogprobsDelta,
    ReasoningDelta,
    ResponseStarted,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageReport,
)


class AnswerBuilder:
    """Collects the first choice's text, reasoning and tool calls; the last usage report wins."""

    def __init__(self, parameters: dict[str, Any] | None = None) -> None:
        self._answer = Answer(parameters=dict(parameters or {}))
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]
        self._choices: dict[int, list[str]] = {}  # choice index >= 1 -> text pieces (n > 1)
        self._started = time.perf_counter()
        self.first_token_at: float | None = None
        self._finished = False

    def add(self, event: StreamEvent) -> None:
        """Fold one event into the answer."""
        if isinstance(event, LogprobsDelta):
            if event.choice == 0:
                self._answer.logprobs.extend(event.tokens)
            return
        if isinstance(event, (TextDelta, ReasoningDelta, ToolCallDelta)) and event.choice != 0:
            if isinstance(event, TextDelta):  # other choices (n > 1) keep only their text
                self._choices.setdefault(event.choice, []).append(event.text)
            return
        if self.first_token_at is None and isinstance(event, (TextDelta, ReasoningDelta)):
            self.first_token_at = time.perf_counter()
        if isinstance(event, TextDelta):
            self._text.append(event.text)
        elif isinstance(event, ReasoningDelta):
            self._reasoning.append(event.text)
        elif isinstance(event, ToolCallDelta):
            call = self._calls.setdefault(event.index, ["", "", ""])
            call[0] = event.id or call[0]
            call[1] = event.name or call[1]
            call[2] += event.arguments
        elif isinstance(event, UsageReport):
            self._answer.usage = event.usage
        elif isinstance(event, Finish):
            self._answer.finish_reason = event.reason or self._answer.finish_reason
        elif isinstance(event, ResponseStarted):
            self._answer.request_id = self._answer.request_id or event.request_id
            self._answer.model = event.model or self._answer.model

    @property
    def usage(self) -> Usage:
        """The last usage report; reading it changes nothing, so another thread may stream."""
        return self._answer.usage

    @property
    def answer(self) -> Answer:
        """The answer so far; text is joined on demand, since joining per event is quadratic."""
        return self._answer if self._finished else self._snapshot()

    def _snapshot(self) -> Answer:
        answer = self._answer
        answer.text = "".join(self._text)
        answer.reasoning = "".join(self._reasoning)
        answer.tool_calls = [ToolCall(*call) for _, call in sorted(self._calls.items())]
        if self._choices:
            others = ["".join(self._choices.get(i, ())) for i in range(1, max(self._choices) + 1)]
            answer.choices = [answer.text, *others]
        answer.seconds = time.perf_counter() - self._started
        if self.first_token_at is not None:
            answer.latency = self.first_token_at - self._started
        return answer

    def finish(self, *, interrupted: bool = False, truncated: bool = False) -> Answer:
        """Freeze the answer (marked interrupted or truncated if so) and return it."""
        if not self._finished:
            self._snapshot()
            self._finished = True
        self._answer.interrupted = self._answer.interrupted or interrupted
        self._answer.truncated = self._answer.truncated or truncated
        return self._answer
