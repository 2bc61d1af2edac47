"""A conversation: its exchanges (a question, any tool rounds, the answer) in the order they
were asked, and the id that keeps its requests on one prefix cache."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import export
from .answer import Answer
from .messages import Message
from .secrets import Redactor


@dataclass
class Exchange:
    """One question and what came of it. `answer` is None while it streams (a background
    answer): the exchange keeps its place in the order the questions were asked."""

    user: Message
    answer: Answer | None = None
    steps: list[Message] = field(default_factory=list)  # tool-call turns and tool results
    forgotten: bool = False  # `%kimi forget`: kept in history, not sent again
    pinned: bool = False  # `%kimi pin`: kept when the context window trims old turns
    edited: list[str] = field(default_factory=list)  # "question" / "answer": `%kimi edit`

    def messages(self) -> list[Message]:
        """What the next request sends of this exchange; never an assistant turn with no text."""
        if self.answer is None or self.forgotten:
            return []
        sent = [self.user, *self.steps]
        text = self.answer.text.strip()
        if not self.answer.complete:  # the model is told; an empty turn becomes the note
            text = f"{text}\n\n{self.answer.ended.note_to_model}".strip()
        if text:
            sent.append(Message.assistant(text))
        return sent

    def edit(self, text: str, question: bool = False) -> None:
        """Replace the answer's text (or the question's, images kept), marked as edited."""
        if question:
            self.user = replace(self.user, text=text)
        elif self.answer is not None:
            self.answer.text = text
        part = "question" if question else "answer"
        if part not in self.edited:
            self.edited.append(part)


@dataclass
class Conversation:
    """Exchanges of one chat; `session_id` is sent as `x-session-affinity` on every request."""

    name: str = "default"
    exchanges: list[Exchange] = field(default_factory=list)
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # The redactor of the session this conversation belongs to (`bind`): it knows the token
    # configured in that session, not only the environment's, and the gateway token.
    _redactor: Callable[[], Redactor] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def bind(self, redactor: Callable[[], Redactor]) -> None:
        """Export through `redactor()` (the owning session's) unless one is given."""
        self._redactor = redactor

    @property
    def messages(self) -> list[Message]:
        """The history the next request sends (finished exchanges only)."""
        return [m for exchange in self.exchanges for m in exchange.messages()]

    @property
    def pinned(self) -> list[Message]:
        """The questions of pinned turns: the context window keeps their turns."""
        return [e.user for e in self.exchanges if e.pinned and not e.forgotten]

    @property
    def answers(self) -> list[Answer]:
        return [e.answer for e in self.exchanges if e.answer is not None]

    def request_messages(self, user: Message, system: str | None = None) -> list[Message]:
        """What to send for a new user turn: the system prompt, history, then the turn."""
        head = [Message.system(system)] if system else []
        return [*head, *self.messages, user]

    def begin(self, user: Message) -> Exchange:
        """Keep the question's place now; its answer is filled in by `complete`."""
        exchange = Exchange(user)
        self.exchanges.append(exchange)
        return exchange

    def complete(self, exchange: Exchange, answer: Answer) -> None:
        """Record how the exchange ended; partial answers stay, marked, so nothing is lost.

        A call that failed before anything arrived is no turn: the exchange is dropped.
        """
        if not (answer.text or answer.reasoning or answer.tool_calls or answer.interrupted):
            if exchange in self.exchanges:
                self.exchanges.remove(exchange)
            return
        exchange.answer = answer

    def record(self, user: Message, answer: Answer) -> None:
        """Keep a finished turn (begin and complete at once)."""
        self.complete(self.begin(user), answer)

    def reset(self) -> None:
        """Forget the exchanges and start a new prefix-cache session."""
        self.exchanges.clear()
        self.session_id = uuid.uuid4().hex

    def to_markdown(self, redactor: Redactor | None = None, images: Path | None = None) -> str:
        """The conversation as Markdown: questions, reasoning and tool rounds folded in
        `<details>`, answers (partial ones marked), usage and cost at the end. `images`: a
        folder to write the images into, linked by its name (else they are embedded). Text is
        redacted (`redactor`; by default its session's: the configured and gateway tokens,
        secret-looking names, well-known key formats)."""
        return export.to_markdown(self, redactor or self._own_redactor(), images)

    def to_notebook(self, redactor: Redactor | None = None) -> dict[str, Any]:
        """The conversation as an nbformat 4 notebook dict: markdown cells for questions and
        answers, code cells for the code the agent ran, with their results; redacted as
        `to_markdown`."""
        return export.to_notebook(self, redactor or self._own_redactor())

    def _own_redactor(self) -> Redactor | None:
        """The owning session's redactor; None for a conversation of no session (the export
        then redacts the environment's tokens and secret-looking entries)."""
        return self._redactor() if self._redactor is not None else None
