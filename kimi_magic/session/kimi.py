"""`kimi_magic.Kimi`: a client with explicit credentials whose questions run the session's turn."""

from __future__ import annotations

from typing import Any

from ..api.client import Client
from ..core.answer import Answer
from ..core.conversation import Conversation
from .session import Session


class Kimi(Client):
    """A client for Kimi K2.6 on Workers AI; keep one for repeated calls.

    >>> kimi = Kimi()                       # credentials from the environment
    >>> kimi.ask("Name three plots for a time series", temperature=0.3).text
    >>> with kimi.stream([{"role": "user", "content": "Hi"}]) as call:
    ...     for event in call: ...
    """

    def ask(
        self,
        prompt: str,
        *,
        conversation: Conversation | None = None,
        system: str | None = None,
        **params: Any,
    ) -> Answer:
        """Send one user turn and return the whole answer (kept in `conversation` if given)."""
        chat = conversation if conversation is not None else Conversation()
        session = Session(client=self)
        session.conversations[chat.name] = chat
        if system is not None:
            params["system"] = system
        return session.ask(prompt, chat=chat.name, **params).answer
