"""A real MCP stdio server written with the official SDK, started by the MCP tests.

`python tests/mcp_demo_server.py` speaks MCP on stdin/stdout: add (marked read-only), a 2x2
PNG, a tool that fails, and one that writes a line to a file and then kills its server.
Written for both SDK majors (FastMCP in 1.x, MCPServer in 2.x).
"""

from __future__ import annotations

import base64
import os
import signal
import sys

from mcp.types import ToolAnnotations

try:  # mcp 2.x
    from mcp.server.mcpserver import Image
    from mcp.server.mcpserver import MCPServer as Server
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as Server  # type: ignore[no-redef]
    from mcp.server.fastmcp import Image
    from mcp.server.fastmcp.exceptions import ToolError  # type: ignore[no-redef]

# A 2x2 red PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGP4z8AARAwQCgAf7gP9i18U1AAAAABJRU5ErkJggg=="
)

server = Server("demo")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))  # camelCase: both SDK majors
def add(a: int, b: int) -> str:
    """Add two integers."""
    return str(a + b)


@server.tool()
def red_square() -> Image:
    """A small red square, as a PNG image."""
    return Image(data=PNG, format="png")


@server.tool()
def fail(reason: str) -> str:
    """Always fails (a ToolError's text reaches the client; 2.x hides other exceptions')."""
    raise ToolError(f"failed on purpose: {reason}")


@server.tool()
def append_then_die(path: str) -> str:
    """Appends a line to `path`, then the server dies before it answers (not idempotent)."""
    with open(path, "a") as file:
        file.write("ran\n")
    os.kill(os.getpid(), signal.SIGKILL)
    return "never sent"


if __name__ == "__main__":
    if "--crash" in sys.argv:
        sys.exit(3)  # a server that dies at start
    if "--http" in sys.argv:  # streamable HTTP on 127.0.0.1:PORT/mcp
        port = int(sys.argv[sys.argv.index("--http") + 1])
        try:
            server.run("streamable-http", host="127.0.0.1", port=port)  # type: ignore[call-overload]
        except TypeError:  # 1.x: host and port are settings
            server.settings.host, server.settings.port = "127.0.0.1", port
            server.run("streamable-http")
    else:
        server.run()
