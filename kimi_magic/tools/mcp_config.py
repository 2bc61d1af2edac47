"""Where MCP servers are declared: `[tool.kimi_magic.mcp_servers.NAME]` in the nearest
pyproject.toml (or `[kimi_magic.mcp_servers.NAME]` / `[mcp_servers.NAME]` in the user config
file), and `%kimi mcp add NAME -- COMMAND ARGS` (or `%kimi mcp add NAME URL`). A project
file's servers are used only once the user trusts that file (`%kimi trust`, core/trust.py).

    [tool.kimi_magic.mcp_servers.files]
    command = "npx"
    args = ["-y", "@modelcontextprotocol/server-filesystem", "."]
    env = { LOG_LEVEL = "warn" }

    [tool.kimi_magic.mcp_servers.search]
    url = "http://127.0.0.1:8000/mcp"
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.errors import ConfigurationError
from ..core.settings import _toml_loader, nearest_pyproject, user_config_path
from ..core.trust import TRUST_HINT, TrustStore, store_path
from .mcp_client import ServerSpec

TABLE = "mcp_servers"
ADD_USAGE = "%kimi mcp add NAME -- COMMAND [ARGS...]   or   %kimi mcp add NAME URL"


def spec_from_table(name: str, table: Any, where: str) -> ServerSpec:
    """One server's table as a ServerSpec; ConfigurationError saying what is wrong."""
    if not isinstance(table, Mapping):
        raise ConfigurationError(f"{where}: mcp_servers.{name} must be a table.")
    command, url = table.get("command"), table.get("url")
    if bool(command) == bool(url):
        raise ConfigurationError(
            f"{where}: mcp_servers.{name} needs either command (with args, env) for a local "
            "server or url for one over HTTP, not both or neither."
        )
    args = table.get("args", [])
    env = table.get("env", {})
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ConfigurationError(f"{where}: mcp_servers.{name}.args must be a list of strings.")
    if not isinstance(env, Mapping):
        raise ConfigurationError(f"{where}: mcp_servers.{name}.env must be a table of strings.")
    return ServerSpec(
        name,
        command=str(command) if command else None,
        args=tuple(args),
        env={str(k): str(v) for k, v in env.items()},
        url=str(url) if url else None,
        origin=where,
    )


def configured_servers(
    cwd: Path | None = None, user_config: Path | None = None
) -> tuple[dict[str, ServerSpec], list[str], dict[str, ServerSpec]]:
    """The servers the config files declare (the project's win), notes on files that could
    not be used, and the servers of an untrusted project file (listed, never started)."""
    loads = _toml_loader()
    found: dict[str, ServerSpec] = {}
    notes: list[str] = []
    ignored: dict[str, ServerSpec] = {}
    user = user_config if user_config is not None else user_config_path()
    project = nearest_pyproject((cwd or Path.cwd()).resolve())
    for path, is_pyproject in ((user, False), (project, True)):
        if path is None or not path.is_file() or loads is None:
            continue
        try:
            content = path.read_bytes()
            data = loads(content.decode("utf-8"))
        except (OSError, ValueError):
            continue  # read_config_files already says so for the settings
        own = data.get("tool", {}).get("kimi_magic", {}) if is_pyproject else data
        if not is_pyproject and isinstance(data.get("kimi_magic"), Mapping):
            own = data["kimi_magic"]
        servers = own.get(TABLE, {}) if isinstance(own, Mapping) else {}
        where = f"{path} [tool.kimi_magic]" if is_pyproject else str(path)
        # A server is a process (or a connection): only from a project file the user trusts.
        guarded = is_pyproject and not TrustStore.load(store_path(user)).trusts(path, content)
        for name, table in (servers or {}).items() if isinstance(servers, Mapping) else ():
            try:
                spec = spec_from_table(name, table, where)
            except ConfigurationError as error:
                notes.append(str(error))
                continue
            if guarded:
                ignored[name] = spec  # a user's server of that name still applies
            else:
                found[name] = spec
    return found, notes, ignored


def untrusted_server(spec: ServerSpec) -> ConfigurationError:
    """The refusal of a server that an untrusted project file declares."""
    return ConfigurationError(
        f"The MCP server {spec.name!r} comes from {spec.origin}, an untrusted project file, so "
        f"it was not started; {TRUST_HINT}."
    )


def spec_from_command(text: str) -> ServerSpec:
    """`NAME -- COMMAND ARGS` or `NAME URL` (the text after `%kimi mcp add`)."""
    head, dashes, command = text.partition("--")
    words = shlex.split(head)
    if len(words) == 1 and dashes and command.strip():
        argv = shlex.split(command)
        return ServerSpec(words[0], command=argv[0], args=tuple(argv[1:]))
    if len(words) == 2 and not dashes and words[1].startswith(("http://", "https://")):
        return ServerSpec(words[0], url=words[1])
    raise ConfigurationError(f"Usage: {ADD_USAGE}")
