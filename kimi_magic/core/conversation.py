"""A conversation: the messages so far and the id that keeps its requests on one cache."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from .types import Answer

Message = dict[str, Any]


@dataclass
class Conversation:
    """Turns of one chat; `session_id` is sent as `x-session-affinity` on every request."""

    name: str = "default"
    messages: list[Message] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def request_messages(self, user: Message, system: str | None = None) -> list[Message]:
        """What to send for a new user turn: the system prompt, history, then the turn."""
        head: list[Message] = [{"role": "system", "content": system}] if system else []
        return [*head, *self.messages, user]

    def record(self, user: Message, answer: Answer) -> None:
        """Keep a finished or partial turn; partial answers stay so nothing is lost.

        A call that failed before anything arrived is no turn: nothing is kept.
        """
        if not (answer.text or answer.reasoning or answer.interrupted):
            return
        self.messages.append(user)
        self.messages.append({"role": "assistant", "content": answer.text})
        self.answers.append(answer)

    def reset(self) -> None:
        """Forget the turns and start a new prefix-cache session."""
        self.messages.clear()
        self.answers.clear()
        self.session_id = uuid.uuid4().hex
