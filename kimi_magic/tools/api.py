"""Tools from plain Python: `kimi_magic.ask("...", tools=[my_function, "notebook"])`.

The same loop as the magic, with no view: each round is read to its end, and the answer that
comes back carries the usage of every round.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ..core.constants import APPROVE_TIMEOUT_S, RUN_PYTHON_SECONDS
from ..core.errors import ConfigurationError
from .loop import ToolLoop
from .registry import REGISTRY, Tool, tool_from_function

if TYPE_CHECKING:
    from ..session.session import Session
    from ..session.turn import Turn
    from .mcp_client import MCPServers

ToolSpec = str | Tool | Callable[..., Any]


class ServerTools(Protocol):
    """Where `mcp:NAME` finds a server's tools (MCPServers, or the magic's own servers)."""

    def tools(self, name: str) -> list[Tool]: ...


def _words(spec: ToolSpec | Iterable[ToolSpec]) -> list[ToolSpec]:
    if isinstance(spec, str):
        return [w.strip() for w in spec.split(",") if w.strip()]
    if isinstance(spec, Tool) or callable(spec):
        return [spec]
    return [item for part in spec for item in _words(part)]


def resolve_tools(
    spec: ToolSpec | Iterable[ToolSpec],
    *,
    namespace: dict[str, Any] | None = None,
    approve: str = "ask",
    mcp: ServerTools | None = None,
    context: Any = None,
    approve_timeout: float | None = APPROVE_TIMEOUT_S,
    python_timeout: float = RUN_PYTHON_SECONDS,
) -> dict[str, Tool]:
    """Tools by name from functions, Tool values, registered names and the groups all,
    notebook, python and mcp:NAME (the notebook ones read `namespace`, by default
    `__main__`'s globals): the one resolution of every `ask` and of `%%kimi --tools`; a name
    clash is refused, code-running tools ask first."""
    from .approval import approver_for
    from .notebook_tools import NotebookTools
    from .offer import offer
    from .python_tool import python_tool

    space = namespace if namespace is not None else vars(sys.modules["__main__"])
    chosen: list[Tool] = []
    for item in _words(spec):
        if isinstance(item, Tool):
            chosen.append(item)
        elif callable(item):
            chosen.append(tool_from_function(item))
        elif item == "all":
            chosen += REGISTRY.all()
        elif item == "notebook":
            chosen += NotebookTools(space, context).tools()
        elif item == "python":
            approver = approver_for(approve, approve_timeout)
            chosen.append(python_tool(space, approver, python_timeout))
        elif item.startswith("mcp:"):
            if mcp is None:  # a server set made here would outlive the call: nobody closes it
                raise ConfigurationError(
                    f"{item} needs the servers of a session, which stops them when it closes: "
                    "ask through kimi_magic.ask, Session.ask or Kimi.ask, or pass "
                    "mcp=session_servers(session)."
                )
            chosen += mcp.tools(item[4:])
        else:
            chosen.append(REGISTRY.get(item))
    return offer(chosen, approve, approve_timeout)


class _ConfiguredServers:
    """`mcp:NAME` from the config files, in a set of servers someone else owns and closes
    (the session's): read on every use, so a trusted or edited project file counts at once;
    one from an untrusted project file is refused, saying how to trust it."""

    def __init__(self, servers: MCPServers) -> None:
        self.servers = servers

    def tools(self, name: str) -> list[Tool]:
        from .mcp_config import configured_servers, untrusted_server

        found, _, ignored = configured_servers()
        self.servers.follow(found)
        if name in ignored and name not in self.servers.specs:
            raise untrusted_server(ignored[name])
        return self.servers.tools(name)


def session_servers(session: Session) -> ServerTools:
    """The session's MCP servers: made on first use, reused by its every ask, stopped by
    `session.close()`."""
    from .mcp_client import MCPServers

    return _ConfiguredServers(session.owned("mcp", MCPServers))


def ask_with_tools(
    session: Session,
    text: str,
    tools: ToolSpec | Iterable[ToolSpec],
    options: Mapping[str, Any],
    read: Callable[[Any], object] | None = None,
) -> Turn:
    """One question with tools, run to its answer; errors are raised after the turn is kept."""
    from ..session.turn import Question

    turn = session.prepare(Question.from_keywords(text, options))
    resolved = turn.resolved
    notebook = session.notebook  # a notebook's session: its tools read and run in its namespace
    space = notebook.namespace if notebook is not None else None
    offered = resolve_tools(
        tools,
        namespace=space if isinstance(space, dict) else None,
        approve=str(resolved["approve"]),
        mcp=session_servers(session),
        context=notebook.context if notebook is not None else None,
        approve_timeout=resolved["approve_timeout"],
        python_timeout=float(resolved["python_timeout"]),
    )
    loop = ToolLoop(
        session,
        turn,
        offered,
        max_rounds=int(resolved["tool_max_rounds"]),
        parallel=resolved["parallel_tool_calls"] is not False,
    )
    loop.run(read or (lambda call: call.run_keeping_errors()))
    call = turn.call
    if call is not None and call.error is not None:
        raise call.error
    return turn
