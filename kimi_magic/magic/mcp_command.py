"""`%kimi mcp`: list the MCP servers and their tools, add one, stop one.

%kimi mcp                                  servers (config and added) and their tools
%kimi mcp add files -- npx -y @modelcontextprotocol/server-filesystem .
%kimi mcp add search http://127.0.0.1:8000/mcp
%kimi mcp stop files
"""

from __future__ import annotations

from typing import Any

from ..core.errors import ConfigurationError, KimiError
from ..render.frontend import show_markdown
from .tool_turn import mcp_servers

USAGE = (
    "`%kimi mcp`, `%kimi mcp add NAME -- COMMAND ARGS`, `%kimi mcp add NAME URL`, "
    "`%kimi mcp stop NAME`"
)


def mcp_command(host: Any, rest: str) -> None:
    word, _, tail = rest.strip().partition(" ")
    servers = mcp_servers(host)
    if word == "add":
        from ..tools.mcp_config import spec_from_command

        spec = spec_from_command(tail)
        servers.add(spec)
        text = (
            f"MCP server **{spec.name}** added: `{spec.describe()}`. It starts when its tools "
            f"are first used: `%%kimi --tools mcp:{spec.name}`."
        )
        show_markdown(text, plain=text.replace("**", "").replace("`", ""))
        return
    if word == "stop":
        servers.stop(tail.strip())
        show_markdown(f"MCP server {tail.strip()} stopped.")
        return
    if word:
        raise ConfigurationError(f"Unknown %kimi mcp command {word!r}. Use {USAGE}.")
    show_markdown(*listing(servers))


def listing(servers: Any) -> tuple[str, str]:
    """(markdown, plain) of every server and its tools (listing starts a server: it is a use)."""
    if not servers.specs:
        text = (
            "No MCP servers yet. Add one with `%kimi mcp add NAME -- COMMAND ARGS`, or declare "
            "it in `[tool.kimi_magic.mcp_servers.NAME]` (command, args, env; or url)."
        )
        return text, text.replace("`", "")
    lines = []
    for name, spec in sorted(servers.specs.items()):
        lines.append(f"- **{name}** `{spec.describe()}` (from {spec.origin})")
        try:
            tools = servers.tools(name)
        except KimiError as error:
            lines.append(f"  - ⚠ {error}")
            continue
        for tool in tools:
            first = tool.description.strip().splitlines()[0] if tool.description.strip() else ""
            lines.append(f"  - `{tool.name}`: {first}")
    text = (
        "**MCP servers** (`--tools mcp:NAME` offers a server's tools, named `NAME__tool`)\n\n"
        + "\n".join(lines)
    )
    return text, text.replace("**", "").replace("`", "")
