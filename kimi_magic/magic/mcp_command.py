"""`%kimi mcp`: list the MCP servers, list one's tools, add one, stop one.

%kimi mcp                                  servers (config and added); starts none
%kimi mcp tools files                      starts `files` (if it is not running) and lists its tools
%kimi mcp add files -- npx -y @modelcontextprotocol/server-filesystem .
%kimi mcp add search http://127.0.0.1:8000/mcp
%kimi mcp stop files
"""

from __future__ import annotations

from typing import Any

from ..core.errors import ConfigurationError, KimiError
from ..core.trust import TRUST_HINT
from ..render.frontend import show_markdown
from .tool_turn import mcp_servers, mcp_tools

USAGE = (
    "`%kimi mcp`, `%kimi mcp tools NAME`, `%kimi mcp add NAME -- COMMAND ARGS`, "
    "`%kimi mcp add NAME URL`, `%kimi mcp stop NAME`"
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
    if word == "tools":
        name = tail.strip()
        if not servers.running(name) and name in servers.specs:
            show_markdown(f"Starting MCP server {name} to list its tools.")
        show_markdown(*tool_listing(name, mcp_tools(host, name)))
        return
    if word == "stop":
        servers.stop(tail.strip())
        show_markdown(f"MCP server {tail.strip()} stopped.")
        return
    if word:
        raise ConfigurationError(f"Unknown %kimi mcp command {word!r}. Use {USAGE}.")
    from ..tools.mcp_config import configured_servers

    show_markdown(*listing(servers, configured_servers()[2]))


def listing(servers: Any, ignored: dict[str, Any]) -> tuple[str, str]:
    """(markdown, plain) of every server, and the tools of those already running. Listing
    starts no server: `%kimi mcp tools NAME` does, and says so."""
    if not servers.specs and not ignored:
        text = (
            "No MCP servers yet. Add one with `%kimi mcp add NAME -- COMMAND ARGS`, or declare "
            "it in `[tool.kimi_magic.mcp_servers.NAME]` (command, args, env; or url)."
        )
        return text, text.replace("`", "")
    lines = []
    for name, spec in sorted(servers.specs.items()):
        lines.append(f"- **{name}** `{spec.describe()}` (from {spec.origin})")
        if not servers.running(name):
            lines.append(f"  - not running: `%kimi mcp tools {name}` starts it to list its tools")
            continue
        try:
            tools = servers.tools(name)
        except KimiError as error:
            lines.append(f"  - ⚠ {error}")
            continue
        lines += [f"  - {line}" for line in _tool_lines(tools)]
    for name, spec in sorted(ignored.items()):
        lines.append(
            f"- ~~{name}~~ `{spec.describe()}` (from {spec.origin}): ignored, an untrusted "
            f"project file may not start servers; {TRUST_HINT}"
        )
    text = (
        "**MCP servers** (`--tools mcp:NAME` offers a server's tools, named `NAME__tool`)\n\n"
        + "\n".join(lines)
    )
    return text, text.replace("**", "").replace("`", "").replace("~~", "")


def tool_listing(name: str, tools: list[Any]) -> tuple[str, str]:
    """(markdown, plain) of one running server's tools."""
    text = f"**MCP server {name}** tools\n\n" + "\n".join(f"- {t}" for t in _tool_lines(tools))
    return text, text.replace("**", "").replace("`", "")


def _tool_lines(tools: list[Any]) -> list[str]:
    lines = []
    for tool in tools:
        first = tool.description.strip().splitlines()[0] if tool.description.strip() else ""
        lines.append(f"`{tool.name}`: {first}")
    return lines
