"""The tool loop of one turn: ask, run the tools the model called, send the results back, and
repeat until the model answers, a cap stops it, or the user does.

    loop = ToolLoop(session, turn, tools)
    call = loop.start()
    while call is not None:
        ...read or show the call...
        call = loop.proceed()      # runs this round's tools, starts the next round (or None)
    loop.finish()                  # history, ledger (usage of every round), listeners

Each round's assistant turn (with its reasoning, which K2.6 wants back) and tool results go
into the exchange's `steps`, so they are sent with the rest of the turn and with every later
question. Images from tools follow the tool messages in a user message: `tool` messages hold
text only (docs/design.md section 4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from ..core.answer import Answer
from ..core.constants import TOOL_MAX_ROUNDS
from ..core.messages import Message
from ..core.secrets import Redactor, redacting
from ..core.types import ToolCall, Usage
from .registry import Tool, ToolError
from .results import ToolResult
from .runner import definitions, run_calls

if TYPE_CHECKING:
    from ..core.call import Call
    from ..session.session import Session
    from ..session.turn import Turn


class LoopObserver(Protocol):
    """What a view hears of the loop besides the calls' own events."""

    def tool_started(self, call: ToolCall) -> None: ...
    def tool_finished(self, result: ToolResult) -> None: ...


@dataclass
class Round:
    """One request of the turn and the tool calls its answer asked for."""

    answer: Answer
    usage: Usage  # this round's own (the turn's last answer ends up carrying the sum)
    results: list[ToolResult] = field(default_factory=list)


@dataclass
class ToolLoop:
    """Drives one turn through its rounds (see the module docstring)."""

    session: Session
    turn: Turn
    tools: Mapping[str, Tool]
    max_rounds: int = TOOL_MAX_ROUNDS
    max_cost: float | None = None  # USD for the whole turn (the agent cell's cap)
    parallel: bool = True
    observer: LoopObserver | None = None
    # `tool_choice` of the first round only (auto, none, required, or a tool's name): forcing
    # every round would never let the model answer.
    tool_choice: str | None = None
    rounds: list[Round] = field(default_factory=list)
    note: str = ""  # why the loop stopped early, when a cap stopped it

    def start(self) -> Call:
        """Offer the tools and send the first round."""
        if self.tools:
            self.turn.params["tools"] = definitions(self.tools)
        if self.tool_choice:
            self.turn.params["tool_choice"] = choice_json(self.tool_choice, self.tools)
        return self.session.start(self.turn)

    def proceed(self) -> Call | None:
        """After the current call was read: run the tool calls it asked for and start the next
        round; None when the turn is over (an answer, a cap, an interruption, an error)."""
        return self.run_tools() if self.round_ended() else None

    def round_ended(self) -> bool:
        """Record the call just read; True when its tool calls are to run (False when it
        answered, a cap stopped the loop, or the call did not end whole)."""
        call = self.turn.call
        if call is None or self.turn.exchange is None:
            return False
        answer = call.answer
        self.rounds.append(Round(answer, answer.usage))
        if not answer.tool_calls or not answer.complete or call.stopped:
            return False
        self.note = self._cap_reached(answer)
        if self.note:  # the answer carries it (`answer.notes`), as the magic shows it
            self.turn.notes.append(self.note)
        return not self.note

    def run_tools(self) -> Call:
        """Run the last round's tool calls, keep them in the exchange, send the next round."""
        exchange = self.turn.exchange
        if exchange is None:  # `wants_tools` said no round is due: nothing to run
            raise RuntimeError("run_tools() was called with no tool round to run.")
        answer = self.rounds[-1].answer
        calls = _with_ids(answer.tool_calls, len(self.rounds))
        # Every cut of a tool's text (its result, a rendering, printed output) redacts first.
        with redacting(self._redactor()):
            results = run_calls(calls, self.tools, parallel=self.parallel, observer=self._observe)
        self.rounds[-1].results = results
        exchange.steps.extend(self._steps(answer, calls, results))
        self.turn.params.pop("tool_choice", None)
        return self.session.next_round(self.turn)

    def fold_usage(self) -> None:
        """Make the turn's last answer carry the usage and time of all its rounds (what its
        footer, the ledger and the history show)."""
        call = self.turn.call
        if call is None:
            return
        answer = call.answer
        if not self.rounds or self.rounds[-1].answer is not answer:  # interrupted mid-round
            self.rounds.append(Round(answer, answer.usage))
        answer.usage = self.usage
        answer.seconds = sum(r.answer.seconds for r in self.rounds)

    def finish(self) -> None:
        """Record the turn: its last answer, carrying the usage of all its rounds."""
        self.fold_usage()
        self.session.finish(self.turn)

    def run(
        self, read: Callable[[Call], object] = lambda call: call.run_keeping_errors()
    ) -> Answer:
        """The whole loop, each call read by `read` (a view, or nothing); returns the answer."""
        call: Call | None = self.start()
        try:
            while call is not None:
                read(call)
                call = self.proceed()
        finally:
            self.finish()
        return self.turn.answer

    # -- what the loop adds up -----------------------------------------------------------------

    @property
    def usage(self) -> Usage:
        """Tokens of every round so far."""
        total = Usage()
        for round_ in self.rounds:
            total = total + round_.usage
        return total

    @property
    def results(self) -> list[ToolResult]:
        return [result for round_ in self.rounds for result in round_.results]

    @property
    def code(self) -> list[str]:
        """The code run_python ran without error, in order (the agent cell offers it)."""
        return [r.code for r in self.results if r.code]

    # -- helpers -------------------------------------------------------------------------------

    def _cap_reached(self, answer: Answer) -> str:
        wanted = ", ".join(sorted({c.name for c in answer.tool_calls}))
        if len(self.rounds) >= self.max_rounds:
            return (
                f"Stopped after {len(self.rounds)} rounds (the cap, tool_max_rounds): the model "
                f"still wanted to call {wanted}. Ask it to go on, or raise the cap."
            )
        if self.max_cost is not None and self.usage.cost >= self.max_cost:
            return (
                f"Stopped at ${self.usage.cost:.4f}, past this turn's cost cap of "
                f"${self.max_cost:.4f}: the model still wanted to call {wanted}. Ask it to go "
                "on, or raise the cap."
            )
        # The ledger counts this turn when it ends: its rounds so far count against the cap now.
        cap = self.turn.resolved["max_cost"]
        spent = self.session.ledger.total.cost + self.usage.cost
        if cap is not None and spent >= cap:
            return (
                f"Stopped: the session spending cap of ${cap:.4f} is reached (${spent:.4f} with "
                f"this question's rounds), and the model still wanted to call {wanted}. Raise "
                "max_cost to go on."
            )
        return ""

    def _observe(self, call: ToolCall, result: ToolResult | None) -> None:
        if self.observer is None:
            return
        if result is None:
            self.observer.tool_started(call)
        else:  # the block shows what the model reads: the token never reaches an output
            self.observer.tool_finished(replace(result, text=self._redacted(result.text)))

    def _steps(
        self, answer: Answer, calls: tuple[ToolCall, ...], results: list[ToolResult]
    ) -> list[Message]:
        """The assistant turn that asked, each result, then the tools' images."""
        steps = [Message.assistant(answer.text, calls, answer.reasoning)]
        for result in results:
            text = self._redacted(result.text)
            steps.append(Message.tool(result.call.id, text, name=result.call.name))
        images = tuple(url for result in results for url in result.images)
        if images:
            labels = "\n".join(label for r in results for label in r.image_labels)
            steps.append(Message.user(f"The images the tools returned:\n{labels}", images))
        return steps

    def _redacted(self, text: str) -> str:
        """A tool's result as the model and the notebook see it: the token, values of
        secret-looking variables and well-known key formats redacted, as in prompts."""
        return self._redactor().redact(text).text

    def _redactor(self) -> Redactor:
        return self.session.redactor(self.turn.resolved)


def _with_ids(calls: list[ToolCall], round_number: int) -> tuple[ToolCall, ...]:
    """The calls with an id each (a tool message must name one) and arguments that are a JSON
    object string (an empty string is sent back as `{}`)."""
    return tuple(
        ToolCall(
            call.id or f"call_{round_number}_{i}",
            call.name,
            call.arguments if call.arguments.strip() else "{}",
        )
        for i, call in enumerate(calls)
    )


def choice_json(choice: str, tools: Mapping[str, Tool]) -> str | dict[str, Any]:
    """`tool_choice` as the wire has it: a mode, or a named function the request offers."""
    if choice in ("auto", "none", "required"):
        return choice
    if choice not in tools:
        offered = ", ".join(sorted(tools)) or "none"
        raise ToolError(
            f"--tool-choice {choice!r} is neither auto, none, required nor an offered tool "
            f"(offered: {offered})."
        )
    return {"type": "function", "function": {"name": choice}}


def tool_map(tools: list[Tool]) -> dict[str, Tool]:
    """Tools by name; two of the same name are refused (tools/offer.py), never resolved."""
    from .offer import offer

    return offer(tools)
