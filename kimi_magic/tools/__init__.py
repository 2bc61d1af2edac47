"""Tools the model may call: registered Python functions, the read-only notebook tools,
run_python with approval, MCP servers' tools, and the loop that runs them between rounds."""

from .registry import REGISTRY, Registry, Tool, ToolError, tool, tool_from_function
from .results import ToolOutput, ToolResult

__all__ = [
    "REGISTRY",
    "Registry",
    "Tool",
    "ToolError",
    "ToolOutput",
    "ToolResult",
    "tool",
    "tool_from_function",
]
