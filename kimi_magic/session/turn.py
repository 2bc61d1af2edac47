"""The values of one turn: what was asked (`Question`), what the notebook lends (`Notebook`),
and the prepared turn with its call (`Turn`)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from ..api.cache import ResponseCache
from ..core.answer import Answer
from ..core.call import Call
from ..core.conversation import Conversation, Exchange
from ..core.errors import ConfigurationError
from ..core.parameters import BODY_EXTRAS
from ..core.settings import NAMES, Resolved
from ..core.tokens import ContextGauge
from ..prompt.context import NotebookContext
from ..prompt.prompt import Budgets, Prompt
from ..prompt.structured import OutputSpec


@dataclass
class Notebook:
    """What a notebook lends the session: its namespace, what it displayed and raised, and the
    budgets of its renderings (read at each question, so %config changes apply)."""

    namespace: Mapping[str, Any]
    context: NotebookContext | None = None
    budgets: Callable[[], Budgets] = Budgets


@dataclass
class Question:
    """What was asked and how: the text, which conversation, settings for this call only
    (`flags`), extra body keys (`params`: tools, response_format ...), notebook attachments and
    the output format."""

    text: str
    chat: str | None = None
    new: bool = False
    flags: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    variables: Sequence[str] = ()
    images: Sequence[str] = ()
    interpolate: bool = True
    json: bool = False
    schema: Any = None  # a name in the notebook, or a JSON Schema dict / pydantic model
    refresh: bool = False

    @classmethod
    def from_keywords(cls, text: str, keywords: Mapping[str, Any]) -> Question:
        """Python keywords split into question fields, settings and body keys; an unknown
        keyword is refused with the closest known name (it would be sent silently)."""
        own = {f.name for f in fields(cls)} - {"text", "flags", "params"}
        taken: dict[str, Any] = {}
        flags: dict[str, Any] = {}
        params: dict[str, Any] = {}
        for name, value in keywords.items():
            if name in own:
                taken[name] = value
            elif name in NAMES:
                flags[name] = value
            elif name in BODY_EXTRAS:
                params[name] = value
            else:
                known = sorted(own | set(NAMES) | BODY_EXTRAS)
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ConfigurationError(
                    f"Unknown keyword {name!r}: nothing was sent.{hint} The keywords are the "
                    "request parameters of %kimi? and the settings of %kimi config."
                )
        return cls(text, flags=flags, params=params, **taken)


@dataclass(eq=False)
class Turn:
    """One prepared question and, once started, its call (`turn.call`, `turn.answer`)."""

    question: Question
    resolved: Resolved
    conversation: Conversation
    label: str  # the conversation's name in the ledger
    prompt: Prompt
    output: OutputSpec | None
    params: dict[str, Any]
    notes: list[str]
    call: Call | None = None
    exchange: Exchange | None = None
    cache: ResponseCache | None = None
    gauge: ContextGauge | None = None  # how full the window is, once the turn finished
    agent: bool = False  # a %%kimi --agent cell (its rounds are filed as "agent" in a gateway)

    @property
    def answer(self) -> Answer:
        if self.call is None:
            raise ConfigurationError("This turn was not started: nothing was asked yet.")
        return self.call.answer
