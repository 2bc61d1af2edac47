"""Tools from Model Context Protocol servers, through the official `mcp` SDK (optional extra).

A server starts on first use and stays up: one background thread runs an asyncio loop, and
each server is one task there that holds its transport and session open until `close()`
(the magic calls it on `%unload_ext`, and at exit). Calls from the notebook's thread are
submitted to that loop and waited for. The SDK's 2.x renamed `inputSchema` / `isError` /
`mimeType` to snake case: both spellings are read.

The model sees each tool as `SERVER__tool` (both parts cut to the API's name characters), so
a server's tool can never take the name of a built-in tool (`run_python`), of a registered
one, or of another server's tool.
"""

from __future__ import annotations

import asyncio
import atexit
import re
import tempfile
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ..core.constants import MCP_CALL_SECONDS, MCP_START_SECONDS
from ..core.errors import KimiError
from ..core.secrets import redact_then
from .registry import Tool
from .results import ToolOutput

MCP_HINT = "MCP servers need the mcp package: pip install 'kimi_magic[mcp]'."
STDERR_SHOWN = 600  # characters of a failed server's stderr quoted in the message
_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")
NAME_LIMIT = 64  # characters of a function name the API accepts
SEPARATOR = "__"  # between the server's name and its tool's in what the model sees


class MCPError(KimiError):
    """An MCP server could not start, died, or is not configured."""


@dataclass(frozen=True)
class ServerSpec:
    """How to reach one MCP server: a command (stdio) or a URL (streamable HTTP)."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    url: str | None = None
    origin: str = "%kimi mcp add"  # where it was declared (a config file's path)

    def describe(self) -> str:
        return self.url or " ".join([self.command or "", *self.args]).strip()


def _field(value: Any, snake: str, camel: str, default: Any = None) -> Any:
    """An attribute under its 2.x (snake_case) or 1.x (camelCase) name."""
    found = getattr(value, snake, None)
    return found if found is not None else getattr(value, camel, default)


class _Loop:
    """The background asyncio loop every server task runs on."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="kimi-magic-mcp", daemon=True
        )
        self.thread.start()

    def submit(self, coroutine: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        if not self.thread.is_alive():
            self.loop.close()


class _Connection:
    """One running server: its task holds the transport and the session open."""

    def __init__(self, spec: ServerSpec, loop: _Loop) -> None:
        self.spec = spec
        self.session: Any = None
        self.tools: list[Any] = []
        self._loop = loop
        self._ready: Future[None] = Future()
        self._stop: asyncio.Event | None = None
        # Open for the server's life, closed in close(); a context manager cannot span that.
        self.errlog = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")  # noqa: SIM115
        self._task = loop.submit(self._serve())

    async def _serve(self) -> None:
        from mcp import ClientSession

        self._stop = asyncio.Event()
        try:
            async with (
                _transport(self.spec, self.errlog) as streams,
                ClientSession(streams[0], streams[1]) as session,
            ):
                await session.initialize()
                listed = await session.list_tools()
                self.session, self.tools = session, list(listed.tools)
                self._ready.set_result(None)
                await self._stop.wait()
        except BaseException as error:  # the start failed, or the server died: say so once
            if not self._ready.done():
                self._ready.set_exception(error)
            raise
        finally:
            self.session = None

    def wait_ready(self) -> None:
        try:
            self._ready.result(timeout=MCP_START_SECONDS)
        except TimeoutError:
            raise MCPError(
                f"The MCP server {self.spec.name!r} ({self.spec.describe()}) did not answer "
                f"within {MCP_START_SECONDS:g} s of starting. Check that the command runs in a "
                "terminal and speaks MCP on stdin/stdout."
            ) from None
        except Exception as error:
            raise MCPError(_start_failure(self.spec, error, self._stderr())) from None

    def _stderr(self) -> str:
        """What the server wrote to stderr (kept in a file: the kernel's stderr has no fd)."""
        self.errlog.flush()
        self.errlog.seek(0)
        return self.errlog.read()

    @property
    def alive(self) -> bool:
        return self.session is not None and not self._task.done()

    def call(self, tool: str, arguments: Mapping[str, Any]) -> Any:
        if not self.alive:
            raise MCPError(_died(self.spec))
        future = self._loop.submit(self.session.call_tool(tool, dict(arguments)))
        try:
            return future.result(timeout=MCP_CALL_SECONDS)
        except TimeoutError:
            future.cancel()
            raise MCPError(
                f"The MCP server {self.spec.name!r} did not answer the call of {tool} within "
                f"{MCP_CALL_SECONDS:g} s."
            ) from None
        except Exception as error:
            if not self.alive:
                raise MCPError(_died(self.spec)) from None
            raise MCPError(f"The MCP server {self.spec.name!r} refused {tool}: {error}") from None

    def close(self) -> None:
        stop = self._stop
        if stop is not None and not self._loop.loop.is_closed():
            self._loop.loop.call_soon_threadsafe(stop.set)
        try:
            self._task.result(timeout=5)
        except Exception:  # it failed or was slow to stop: nothing more to do for it
            self._task.cancel()
        self.errlog.close()


def _transport(spec: ServerSpec, errlog: Any) -> Any:
    """The SDK's client transport for `spec` (stdio, or streamable HTTP under either name)."""
    if spec.url:
        from mcp.client import streamable_http

        names = ("streamable_http_client", "streamablehttp_client")  # 2.x, 1.x
        client = next(getattr(streamable_http, n) for n in names if hasattr(streamable_http, n))
        return client(spec.url)
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=spec.command or "", args=list(spec.args), env=dict(spec.env) or None
    )
    return stdio_client(params, errlog=errlog)


def _start_failure(spec: ServerSpec, error: BaseException, stderr: str) -> str:
    detail = str(error) or type(error).__name__
    grouped = getattr(error, "exceptions", None)  # an ExceptionGroup from the SDK's task group
    if grouped:
        detail = "; ".join(str(e) or type(e).__name__ for e in grouped)
    said = redact_then(stderr.strip())[-STDERR_SHOWN:]  # whole, before the cut
    said = f" It said: {said}" if said else ""
    return (
        f"The MCP server {spec.name!r} could not start ({spec.describe()}): {detail}.{said} "
        "Check that the command runs in a terminal, or fix it with %kimi mcp add NAME -- "
        "COMMAND ARGS."
    )


def _died(spec: ServerSpec) -> str:
    return (
        f"The MCP server {spec.name!r} ({spec.describe()}) has stopped; it is started again "
        "the next time its tools are used."
    )


class MCPServers:
    """The MCP servers this kernel knows (from config and `%kimi mcp add`) and the running
    ones; `tools(name)` starts a server on first use."""

    def __init__(self, specs: Mapping[str, ServerSpec] | None = None) -> None:
        self.specs: dict[str, ServerSpec] = dict(specs or {})
        self._running: dict[str, _Connection] = {}
        self._loop: _Loop | None = None
        self._lock = threading.Lock()
        atexit.register(self.close)

    def add(self, spec: ServerSpec) -> None:
        """Declare (or replace) a server; a running one of that name is stopped first."""
        self.stop(spec.name)
        self.specs[spec.name] = spec

    def running(self, name: str) -> bool:
        connection = self._running.get(name)
        return connection is not None and connection.alive

    def connection(self, name: str) -> _Connection:
        """The running server called `name`, started now if needed."""
        _require_sdk()
        if name not in self.specs:
            known = ", ".join(sorted(self.specs)) or "none yet"
            raise MCPError(
                f"There is no MCP server called {name!r} (known: {known}). Add one with "
                "%kimi mcp add NAME -- COMMAND ARGS, or in [tool.kimi_magic.mcp_servers.NAME]."
            )
        with self._lock:
            connection = self._running.get(name)
            if connection is not None and connection.alive:
                return connection
            if connection is not None:
                connection.close()
            if self._loop is None:
                self._loop = _Loop()
            connection = _Connection(self.specs[name], self._loop)
            self._running[name] = connection
        try:
            connection.wait_ready()
        except MCPError:
            with self._lock:
                self._running.pop(name, None)
            connection.close()
            raise
        return connection

    def tools(self, name: str) -> list[Tool]:
        """The server's tools, ready to offer the model (named so the API accepts them)."""
        connection = self.connection(name)
        return [self._tool(name, listed) for listed in connection.tools]

    def _tool(self, server: str, listed: Any) -> Tool:
        original = str(listed.name)
        schema = _field(listed, "input_schema", "inputSchema") or {"type": "object"}

        def call(**arguments: Any) -> ToolOutput:
            return as_output(self.connection(server).call(original, arguments))

        return Tool(
            name=namespaced(server, original),
            description=str(listed.description or ""),
            parameters=dict(schema),
            function=call,
            source=f"mcp:{server}",
        )

    def stop(self, name: str) -> None:
        with self._lock:
            connection = self._running.pop(name, None)
        if connection is not None:
            connection.close()

    def close(self) -> None:
        """Stop every server and the background loop."""
        for name in list(self._running):
            self.stop(name)
        if self._loop is not None:
            self._loop.stop()
            self._loop = None
        atexit.unregister(self.close)


def namespaced(server: str, tool: str) -> str:
    """`SERVER__tool`, the name the model sees; MCPError when it is too long for the API."""
    name = _BAD_NAME_CHARS.sub("_", server) + SEPARATOR + _BAD_NAME_CHARS.sub("_", tool)
    if len(name) > NAME_LIMIT:
        raise MCPError(
            f"The MCP server {server!r} offers a tool {tool!r} whose name for the model, "
            f"{name!r}, is longer than the {NAME_LIMIT} characters the API allows (a tool is "
            f"named SERVER{SEPARATOR}TOOL). Add the server again under a shorter name: "
            "%kimi mcp add SHORT -- COMMAND ARGS, or rename its [mcp_servers] table."
        )
    return name


def as_output(result: Any) -> ToolOutput:
    """An MCP CallToolResult as text + images (images reach the model as images)."""
    texts: list[str] = []
    images: list[str] = []
    for block in getattr(result, "content", None) or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            texts.append(str(block.text))
        elif kind == "image":
            mime = _field(block, "mime_type", "mimeType", "image/png")
            images.append(f"data:{mime};base64,{block.data}")
        elif kind == "resource":
            resource = getattr(block, "resource", None)
            texts.append(str(getattr(resource, "text", "") or f"[a resource: {resource}]"))
        else:
            texts.append(f"[{kind or 'unknown'} content, not shown to the model]")
    structured = _field(result, "structured_content", "structuredContent")
    if not texts and structured:
        import json

        texts.append(json.dumps(structured, ensure_ascii=False, default=str))
    failed = bool(_field(result, "is_error", "isError", False))
    return ToolOutput("\n".join(texts), images=tuple(images), error=failed)


def _require_sdk() -> None:
    try:
        import mcp  # noqa: F401
    except ImportError:
        raise MCPError(MCP_HINT) from None
