"""`%%kimi --tools NAME,NAME`, `%%kimi --agent` and `%kimi mcp`: which tools a question is
offered, and its tool loop shown round by round (each round's answer, then a block per tool
call), ending with the answer, the loop's note, and for an agent the code it ran.

    %%kimi --tools notebook,add          registered tools, `all`, `notebook`, `python`, mcp:NAME
    %%kimi --agent --approve auto        the notebook tools + run_python, with agent caps
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ..core.errors import ConfigurationError, KimiError
from ..render.frontend import in_kernel, show_markdown
from .code_cells import code_to_new_cell, copy_button_html, where_code_went

if TYPE_CHECKING:
    from ..core.settings import Resolved
    from ..session.turn import Question, Turn
    from ..tools.loop import ToolLoop
    from ..tools.mcp_client import MCPServers
    from ..tools.registry import Tool
    from ..tools.results import ToolResult

AGENT_TOOLS = ("notebook", "python")
AGENT_SYSTEM = (
    "You are working inside the user's Jupyter notebook. Look at their variables, cells, "
    "errors and images with the notebook tools, and run Python in their namespace with "
    "run_python (the user approves each run). Work in small steps: look before you change "
    "anything, run one step at a time, read its output, look at the figures it draws and fix "
    "your own errors. Keep the user's variables unless asked to change them. Finish with a "
    "short markdown answer: what you did and what you found."
)
OFFERED_CODE_HEAD = "# The code Kimi ran in this agent cell (the approved steps, in order)\n"


def tool_words(args: argparse.Namespace, resolved: Resolved) -> list[str]:
    """The tool names and groups this question is offered (--tools, else the default_tools
    setting; --agent adds its own)."""
    raw = args.tools if getattr(args, "tools", None) else resolved["default_tools"]
    words = raw if isinstance(raw, (list, tuple)) else str(raw or "").split(",")
    chosen = [str(w).strip() for w in words if str(w).strip()]
    if getattr(args, "agent", False):
        chosen += [w for w in AGENT_TOOLS if w not in chosen]
    return chosen


def agent_question(question: Question, system: str) -> Question:
    """The question with the agent's instructions added to the system prompt."""
    from dataclasses import replace

    flags = dict(question.flags)
    flags["system"] = f"{system}\n\n{AGENT_SYSTEM}".strip()
    return replace(question, flags=flags)


def mcp_servers(host: Any) -> MCPServers:
    """The MCP servers of this magic's session: those `%kimi mcp add` added, and those the
    config files declare now (read on every use, so trusting, untrusting or editing the
    project file takes effect at once). Nothing is started here; the session stops them when
    it closes (`%unload_ext`, exit)."""
    from ..tools.mcp_client import MCPServers
    from ..tools.mcp_config import configured_servers

    found, notes, ignored = configured_servers()
    host._mcp_ignored = ignored
    if not getattr(host, "_mcp_noted", False):
        host._mcp_noted = True
        for note in notes:
            show_markdown(f"<small>{note}</small>", plain=note)
    servers = host.session.owned("mcp", MCPServers)
    servers.follow(found)
    return servers


def mcp_tools(host: Any, name: str) -> list[Tool]:
    """A server's tools (the server is started if it is not running); one from an untrusted
    project file is refused, saying how to trust it."""
    from ..tools.mcp_config import untrusted_server

    servers = mcp_servers(host)
    spec = host._mcp_ignored.get(name)
    if spec is not None and name not in servers.specs:
        raise untrusted_server(spec)
    return servers.tools(name)


def choose_tools(host: Any, words: list[str], resolved: Resolved) -> dict[str, Tool]:
    """The tools named by `words`, resolved as every `ask` resolves them (the notebook's
    namespace, and this magic's MCP servers); an unknown name or a clash is refused before
    anything is sent, and code-running tools wait for approval (tools/offer.py)."""
    from ..tools.api import resolve_tools

    namespace = host.shell.user_ns if host.shell is not None else {}
    return resolve_tools(
        words,
        namespace=namespace,
        approve=str(resolved["approve"]),
        approve_timeout=resolved["approve_timeout"],
        python_timeout=float(resolved["python_timeout"]),
        mcp=_HostServers(host),
        context=host.context,
    )


class _HostServers:
    """`mcp:NAME` in the magic: the servers it started (see `mcp_tools`)."""

    def __init__(self, host: Any) -> None:
        self.host = host

    def tools(self, name: str) -> list[Tool]:
        return mcp_tools(self.host, name)


def offer_tools(host: Any, turn: Turn, words: list[str]) -> None:
    """Put the chosen tools' definitions into the turn's request (what --dry-run shows)."""
    from ..tools.runner import definitions

    if words:
        turn.params["tools"] = definitions(choose_tools(host, words, turn.resolved))


class _Blocks:
    """The loop's observer: a collapsible block per tool call in the cell's output.

    The calls of tools in `asking` wait for approval: their running block leaves the code to
    the approval view, so the user reads it once, in the one place that marks hidden
    characters and has the buttons.
    """

    def __init__(self, asking: frozenset[str] = frozenset()) -> None:
        from ..render.tool_blocks import ToolBlocks

        self.blocks = ToolBlocks()
        self.asking = asking

    def tool_started(self, call: Any) -> None:
        shown = call.name not in self.asking
        self.blocks.started(call.id, call.name, call.arguments, show_arguments=shown)

    def tool_finished(self, result: ToolResult) -> None:
        call = result.call
        self.blocks.finished(
            call.id,
            call.name,
            call.arguments,
            result.status,
            result.text,
            result.seconds,
            result.images,
        )


def run_tool_turn(host: Any, turn: Turn, args: argparse.Namespace, words: list[str]) -> bool:
    """Run the question's tool loop, showing each round; returns True when interrupted."""
    from ..render.display import AnswerSlot
    from ..tools.loop import ToolLoop

    resolved = turn.resolved
    if int(turn.params.get("n") or 1) > 1:
        raise ConfigurationError("Tools run with one answer: drop -n, or drop the tools.")
    agent = bool(getattr(args, "agent", False))
    turn.agent = agent
    tools = choose_tools(host, words, resolved)
    asking = frozenset(n for n, t in tools.items() if t.runs_code and resolved["approve"] == "ask")
    loop = ToolLoop(
        host.session,
        turn,
        tools,
        max_rounds=int(resolved["agent_max_rounds" if agent else "tool_max_rounds"]),
        max_cost=resolved["agent_max_cost"] if agent else None,
        parallel=resolved["parallel_tool_calls"] is not False,
        observer=_Blocks(asking),
        tool_choice=getattr(args, "tool_choice", None),
    )
    slot: Any = AnswerSlot(loop.start())
    interrupted = slot.stream()
    failure: KimiError | None = None
    while not interrupted and loop.round_ended():
        slot.end()
        slot = _Ended()  # shown: the turn's end must not render this round again
        try:
            call = loop.run_tools()
        except KeyboardInterrupt:
            interrupted = True
            break
        except KimiError as error:  # e.g. the spending cap, before the next round was sent
            failure = error
            break
        slot = AnswerSlot(call)
        interrupted = slot.stream()
    loop.fold_usage()
    try:
        host._finish(turn, slot, args)
    finally:
        _after(loop, agent)
    if failure is not None:
        raise failure
    return interrupted


class _Ended:
    """A round's slot that already shows its static answer."""

    def end(self, context: str = "", keep_error: bool = False) -> None:
        pass


def _after(loop: ToolLoop, agent: bool) -> None:
    """An agent cell's code offered as a new cell (the loop's note is among the answer's
    notes, which `_finish` shows)."""
    if agent and loop.code:
        offer_code(OFFERED_CODE_HEAD + "\n\n".join(loop.code))


def offer_code(code: str) -> None:
    """The code into a new cell below where the frontend can, and a copy block in a kernel."""
    from IPython import get_ipython
    from IPython.display import HTML, display

    placed = code_to_new_cell(get_ipython(), code)
    if in_kernel():
        display(HTML(copy_button_html(code)))
    else:
        show_markdown(where_code_went(code, placed))
