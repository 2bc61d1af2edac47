"""Tools from Model Context Protocol servers, through the official `mcp` SDK (optional extra).

A server starts on first use and stays up: one background thread runs an asyncio loop, and
each server is one task there that holds its transport and session open until `close()`
(the session that owns the set calls it: `Session.close()`, `%unload_ext`, and at exit). Calls
from the notebook's thread are submitted to that loop and waited for. A server that exited is
found dead by the next call and replaced by exactly one new one. A call the dead server never
received runs on the new one; a call it died while running is run again only when the server
marks the tool read-only or idempotent, since otherwise it may already have done its work. The
SDK's 2.x renamed
`inputSchema` / `isError` / `mimeType` to snake case: both spellings are read.

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
CONNECTION_CLOSED = -32000  # the SDK's JSON-RPC code for a connection that closed
MCP_CLOSE_SECONDS = 5.0  # how long closing waits for a server to stop
NAME_LIMIT = 64  # characters of a function name the API accepts
SEPARATOR = "__"  # between the server's name and its tool's in what the model sees


class MCPError(KimiError):
    """An MCP server could not start, died, or is not configured."""


class ServerDied(MCPError):
    """The server had exited (or was stopped) before the call was sent: safe to send again."""


class DiedDuringCall(MCPError):
    """The server exited while it had the call: the tool may or may not have done its work."""


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
    """One server's life: made idle, started once (`start`), then its task holds the transport
    and the session open until `close()`. A connection that ended or broke is `dead`: it is
    replaced, never started again."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.session: Any = None
        self.tools: list[Any] = []
        self._loop: _Loop | None = None
        self._ready: Future[None] = Future()
        self._stop: asyncio.Event | None = None
        self._task: Future[None] | None = None
        self._closing = False
        self._broken = False  # a call found the connection closed (the server exited)
        self.errlog: Any = None

    def start(self, loop: _Loop) -> None:
        """Start the server on `loop` (once; the registry calls it outside its lock)."""
        self._loop = loop
        # Open for the server's life, closed in close(); a context manager cannot span that.
        self.errlog = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")  # noqa: SIM115
        self._task = loop.submit(self._serve())

    async def _serve(self) -> None:
        from mcp import ClientSession

        self._stop = asyncio.Event()
        if self._closing:  # closed before the task ran
            self._stop.set()
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
            if not self._ready.done():  # stopped before it was ready
                self._ready.set_exception(MCPError(_died(self.spec)))

    def wait_ready(self) -> None:
        try:
            self._ready.result(timeout=MCP_START_SECONDS)
        except TimeoutError:
            raise MCPError(
                f"The MCP server {self.spec.name!r} ({self.spec.describe()}) did not answer "
                f"within {MCP_START_SECONDS:g} s of starting. Check that the command runs in a "
                "terminal and speaks MCP on stdin/stdout."
            ) from None
        except MCPError:
            raise
        except Exception as error:
            raise MCPError(_start_failure(self.spec, error, self._stderr())) from None

    def _stderr(self) -> str:
        """What the server wrote to stderr (kept in a file: the kernel's stderr has no fd)."""
        if self.errlog is None or self.errlog.closed:
            return ""
        self.errlog.flush()
        self.errlog.seek(0)
        return str(self.errlog.read())

    @property
    def alive(self) -> bool:
        return self.session is not None and not self.dead

    @property
    def dead(self) -> bool:
        """Started and ended, or found broken: to be replaced, not waited for."""
        return self._broken or (self._task is not None and self._task.done())

    def call(self, tool: str, arguments: Mapping[str, Any]) -> Any:
        session, loop = self.session, self._loop
        if session is None or loop is None or self.dead:
            raise ServerDied(_died(self.spec))
        future = loop.submit(session.call_tool(tool, dict(arguments)))
        try:
            return future.result(timeout=MCP_CALL_SECONDS)
        except TimeoutError:
            future.cancel()
            raise MCPError(
                f"The MCP server {self.spec.name!r} did not answer the call of {tool} within "
                f"{MCP_CALL_SECONDS:g} s."
            ) from None
        except Exception as error:
            if _connection_closed(error):  # the server exited: the next use starts another
                self._broken = True
                self._request_stop()
            if self.dead:
                raise DiedDuringCall(_died_during(self.spec, tool)) from None
            raise MCPError(f"The MCP server {self.spec.name!r} refused {tool}: {error}") from None

    def _request_stop(self) -> None:
        self._closing = True
        stop, loop = self._stop, self._loop
        if stop is not None and loop is not None and not loop.loop.is_closed():
            loop.loop.call_soon_threadsafe(stop.set)

    def close(self) -> None:
        """Stop the server and wait (a bounded time) for its task; safe to call again."""
        self._request_stop()
        if self._task is not None:
            try:
                self._task.result(timeout=MCP_CLOSE_SECONDS)
            except Exception:  # it failed or was slow to stop: nothing more to do for it
                self._task.cancel()
        if self.errlog is not None:
            self.errlog.close()


def _connection_closed(error: BaseException) -> bool:
    """Whether an SDK error says the connection closed (JSON-RPC CONNECTION_CLOSED)."""
    data = getattr(error, "error", None)
    code = getattr(error, "code", None)
    if code is None and data is not None:
        code = getattr(data, "code", None)
    return code == CONNECTION_CLOSED or "Connection closed" in str(error)


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


def _died_during(spec: ServerSpec, tool: str) -> str:
    return (
        f"The MCP server {spec.name!r} ({spec.describe()}) stopped while it was running "
        f"{tool}, so the tool may or may not have done its work. It was not run again, because "
        "the server does not mark it read-only or idempotent; the server is started again the "
        "next time its tools are used."
    )


def _repeatable(listed: Any) -> bool:
    """Whether the server marks the tool safe to run twice (MCP's ToolAnnotations hints)."""
    hints = getattr(listed, "annotations", None)
    if hints is None:
        return False
    return bool(
        _field(hints, "read_only_hint", "readOnlyHint")
        or _field(hints, "idempotent_hint", "idempotentHint")
    )


class MCPServers:
    """The MCP servers this kernel knows (from config and `%kimi mcp add`) and the running
    ones; `tools(name)` starts a server on first use."""

    def __init__(self, specs: Mapping[str, ServerSpec] | None = None) -> None:
        self.specs: dict[str, ServerSpec] = dict(specs or {})
        self._running: dict[str, _Connection] = {}
        self._loop: _Loop | None = None
        # Guards _running and _loop only: never held while a server starts, stops or answers.
        self._lock = threading.Lock()
        atexit.register(self.close)

    def add(self, spec: ServerSpec) -> None:
        """Declare (or replace) a server; a running one of that name is stopped first."""
        self.stop(spec.name)
        self.specs[spec.name] = spec

    def follow(self, configured: Mapping[str, ServerSpec]) -> None:
        """Take the servers the config files declare now: one whose declaration changed or
        went is stopped and dropped; those `%kimi mcp add` added stay."""
        added = ServerSpec("").origin
        for name, spec in list(self.specs.items()):
            if spec.origin != added and configured.get(name) != spec:
                self.stop(name)
                self.specs.pop(name, None)
        for name, spec in configured.items():
            self.specs.setdefault(name, spec)

    def running(self, name: str) -> bool:
        connection = self._running.get(name)
        return connection is not None and connection.alive

    def connection(self, name: str) -> _Connection:
        """The running server called `name`, started now if needed.

        Race-free: the entry is swapped under the lock only when it is missing or dead, so of
        many threads that find a server dead exactly one starts the next (outside the lock) and
        closes the dead one; the others wait for that one to be ready."""
        _require_sdk()
        if name not in self.specs:
            known = ", ".join(sorted(self.specs)) or "none yet"
            raise MCPError(
                f"There is no MCP server called {name!r} (known: {known}). Add one with "
                "%kimi mcp add NAME -- COMMAND ARGS, or in [tool.kimi_magic.mcp_servers.NAME]."
            )
        dead: _Connection | None = None
        loop: _Loop | None = None
        with self._lock:
            connection = self._running.get(name)
            if connection is None or connection.dead:
                dead, connection = connection, _Connection(self.specs[name])
                self._running[name] = connection
                if self._loop is None:
                    self._loop = _Loop()
                loop = self._loop
        if loop is not None:  # this thread replaced the entry: it starts the new server
            connection.start(loop)
            if dead is not None:
                dead.close()
        try:
            connection.wait_ready()
        except MCPError:
            self._forget(name, connection)
            connection.close()
            raise
        return connection

    def _forget(self, name: str, connection: _Connection) -> bool:
        """Drop `connection` from the registry if it is still the entry (compare and swap)."""
        with self._lock:
            if self._running.get(name) is not connection:
                return False
            del self._running[name]
            return True

    def tools(self, name: str) -> list[Tool]:
        """The server's tools, ready to offer the model (named so the API accepts them)."""
        connection = self.connection(name)
        return [self._tool(name, listed) for listed in connection.tools]

    def _tool(self, server: str, listed: Any) -> Tool:
        original = str(listed.name)
        schema = _field(listed, "input_schema", "inputSchema") or {"type": "object"}

        repeatable = _repeatable(listed)

        def call(**arguments: Any) -> ToolOutput:
            try:
                return as_output(self.connection(server).call(original, arguments))
            except ServerDied:  # never sent: once more, on the next server
                pass
            except DiedDuringCall:
                if not repeatable:  # it may have run: the model is told, nothing is repeated
                    raise
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
        """Stop every server and the background loop (each within a bounded time)."""
        with self._lock:
            running, self._running = list(self._running.values()), {}
            loop, self._loop = self._loop, None
        for connection in running:
            connection.close()
        if loop is not None:
            loop.stop()
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
