"""What one question is offered: tool names that cannot clash, and code that cannot run
without approval, whatever the tool's source.

- A tool from elsewhere (a registered function, an MCP server) cannot take a built-in tool's
  name (run_python, the notebook tools): refused with a message. MCP tools are namespaced by
  their server (`SERVER__tool`, mcp_client.py), so they never can.
- Two offered tools with the same name are refused, not silently resolved ("last wins" would
  let one tool stand in for another).
- A registered tool marked `runs_code=True` waits for the same approval as run_python (whose
  own function asks already). MCP tools run in a server process the user configured and are
  not asked about (the user's configuration is their consent).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from .approval import approver_for, arguments_text
from .registry import BUILT_IN_SOURCES, Tool, ToolError, describe_source, refuse_built_in_name
from .results import ToolOutput


def offer(
    tools: Iterable[Tool], approve: str = "ask", wait_seconds: float | None = None
) -> dict[str, Tool]:
    """Tools by name for one question; ToolError on a name clash; code-running tools gated."""
    named: dict[str, Tool] = {}
    for tool in tools:
        refuse_built_in_name(tool.name, tool.source)
        if tool.name in named:
            if _same(named[tool.name], tool):
                continue  # the same tool asked for twice (`--tools all,add`)
            raise ToolError(_clash(named[tool.name], tool))
        named[tool.name] = _gated(tool, approve, wait_seconds)
    return named


def _same(a: Tool, b: Tool) -> bool:
    """Two offers of one tool: a built-in group or a server named twice, or one function."""
    if a.source != b.source:
        return False
    return a.source in BUILT_IN_SOURCES or a.source.startswith("mcp:") or a.function == b.function


def _clash(a: Tool, b: Tool) -> str:
    return (
        f"Two tools offered to this question are both called {a.name!r}: one from "
        f"{describe_source(a.source)}, one from {describe_source(b.source)}. The model could "
        "not say which it calls, so neither is offered: register one under another name "
        "(@kimi_magic.tool(name=...)), or offer only one of them."
    )


def _gated(tool: Tool, approve: str, wait_seconds: float | None) -> Tool:
    """A registered code-running tool that asks first (run_python asks in its own function)."""
    if not tool.runs_code or tool.source in BUILT_IN_SOURCES:
        return tool
    approver = approver_for(approve, wait_seconds, name=tool.name)
    function = tool.function

    def run_after_approval(**arguments: Any) -> Any:
        decision = approver(arguments_text(arguments))
        if not decision.approved:
            reason = decision.reason or "The user denied running this tool."
            return ToolOutput(f"Not run: {reason}", denied=True)
        return function(**arguments)

    # On the calling thread: the approval buttons are only clickable from the shell's thread.
    return replace(tool, function=run_after_approval, main_thread=True)
