"""The Python API's questions: `kimi_magic.ask`, `Session.ask` and `Kimi.ask` take the same
keywords (`prompt`, `chat`, `system`, `tools`, `echo`, then request parameters and settings),
run the same path, tools included, and each returns an `Answer`.

The turn engine (`kimi_magic.session.session.Session`) sits below the tools layer, so it cannot
run a tool loop itself: the `Session` here is that engine with this `ask` on top, and `Kimi`
and `kimi_magic.ask` go through it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from .api.client import Client
from .core.answer import Answer
from .core.call import Call
from .core.conversation import Conversation
from .offline import start_if_asked
from .session import session as engine
from .tools.api import ToolSpec

Tools = ToolSpec | Iterable[ToolSpec] | list[dict[str, Any]]


def ask_in(
    session: engine.Session,
    prompt: str,
    *,
    chat: Conversation | str | None = None,
    system: str | None = None,
    tools: Tools | None = None,
    echo: bool = False,
    options: Mapping[str, Any],
) -> Answer:
    """One question in `session`, the one path of every `ask`: tools (given, or the
    `default_tools` setting) run their loop; `echo` streams each round to stdout."""
    keywords = dict(options)
    if system is not None:
        keywords["system"] = system
    if isinstance(chat, Conversation):  # a Conversation object keeps its own history
        session.conversations[chat.name] = chat
        chat = chat.name
    if chat is not None:
        keywords["chat"] = chat
    if _raw_definitions(tools):  # the request's own `tools` list: sent as given, no loop
        keywords["tools"], tools = tools, None
    read: Callable[[Call], object] | None = None
    if echo:
        from .render.render_text import stream_to_stdout

        read = stream_to_stdout
    if tools is None:
        tools = session.settings()["default_tools"] or None
    if tools:  # functions, Tool values, registered names, "notebook", "python", "mcp:NAME"
        from .tools.api import ask_with_tools

        chosen = cast("ToolSpec | Iterable[ToolSpec]", tools)  # not JSON definitions (above)
        return ask_with_tools(session, prompt, chosen, keywords, read=read).answer
    return session.run_turn(prompt, read=read, **keywords).answer


class Session(engine.Session):
    """Conversations, the usage ledger and spending cap, HTTP clients, settings, the response
    cache and the notebook's context, owned in one place; `ask` runs a whole turn.

    >>> session = kimi_magic.Session()
    >>> session.ask("Name three plots for a time series", temperature=0.3).text
    >>> session.ask("Which is the best?", chat="plots", tools=[my_function]).notes
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        start_if_asked()  # KIMI_MAGIC_EMULATOR=1: aim at the in-process emulator first
        super().__init__(*args, **kwargs)

    def ask(  # the engine's ask, with tools, chat, system and echo
        self,
        prompt: str,
        *,
        chat: Conversation | str | None = None,
        system: str | None = None,
        tools: Tools | None = None,
        echo: bool = False,
        **params: Any,
    ) -> Answer:
        """Ask in this session's conversation `chat` (a name, or a Conversation; "default"
        when not given) and return the Answer; `session.run_turn` gives the Turn instead."""
        return ask_in(
            self, prompt, chat=chat, system=system, tools=tools, echo=echo, options=params
        )


class Kimi(Client):
    """A client for Kimi K2.6 on Workers AI; keep one for repeated calls. Each `ask` is a
    new conversation unless `chat=` names one (or is a Conversation); usage adds up in
    `kimi.session.ledger`.

    >>> kimi = Kimi()                       # credentials from the environment
    >>> kimi.ask("Name three plots for a time series", temperature=0.3).text
    >>> with kimi.stream([{"role": "user", "content": "Hi"}]) as call:
    ...     for event in call: ...
    """

    _session: Session | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        start_if_asked()  # KIMI_MAGIC_EMULATOR=1: aim at the in-process emulator first
        super().__init__(*args, **kwargs)

    @property
    def session(self) -> Session:
        """The session this client's questions run in (made on first use)."""
        if self._session is None:
            self._session = Session(client=self)
        return self._session

    def close(self) -> None:
        """Close the session (its MCP servers stop) and the HTTP connections."""
        if self._session is not None:
            self._session.close()
        super().close()

    def ask(
        self,
        prompt: str,
        *,
        chat: Conversation | str | None = None,
        system: str | None = None,
        tools: Tools | None = None,
        echo: bool = False,
        **params: Any,
    ) -> Answer:
        """Send one user turn and return the whole answer (kept in `chat` if given)."""
        if "conversation" in params:
            warnings.warn(
                "Kimi.ask(conversation=...) is now Kimi.ask(chat=...), as on every ask.",
                DeprecationWarning,
                stacklevel=2,
            )
            chat = params.pop("conversation")
        if chat is None:
            params["new"] = True  # a one-off question, kept in no conversation
        return ask_in(
            self.session,
            prompt,
            chat=chat,
            system=system,
            tools=tools,
            echo=echo,
            options=params,
        )


def _raw_definitions(tools: Any) -> bool:
    """Whether `tools` is a list of JSON tool definitions (dicts), not tools to run."""
    return (
        isinstance(tools, (list, tuple)) and bool(tools) and all(isinstance(t, dict) for t in tools)
    )
