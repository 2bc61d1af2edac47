"""Tools the model may call: the `Tool` value, the `@kimi_magic.tool` decorator and the
registry that `--tools NAME,NAME` / `--tools all` choose from.

Built-in groups are resolved by the caller that knows the notebook (`notebook`, `python`,
`mcp:NAME`); this module only knows registered Python functions.
"""

from __future__ import annotations

import difflib
import inspect
import json
import re
import threading
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from ..core.errors import ConfigurationError
from .schema import function_schema, pydantic_model

F = TypeVar("F", bound=Callable[..., Any])
# What the API accepts as a function name (OpenAI's rule, which Workers AI follows).
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The built-in tools' names (run_python and the notebook tools): no tool from elsewhere (a
# registered function, an MCP server) may take one, so a call by that name is always theirs.
BUILT_IN_NAMES = frozenset(
    {
        "run_python",
        "list_variables",
        "describe_variable",
        "dataframe_rows",
        "cell",
        "last_error",
        "cell_images",
    }
)
BUILT_IN_SOURCES = frozenset({"run_python", "notebook"})


class ToolError(ConfigurationError):
    """A tool cannot be defined or chosen as asked (a bad name, an unknown tool)."""


@dataclass(frozen=True)
class Tool:
    """A function the model may call: its name, description, JSON Schema and how to run it.

    `function` takes the decoded arguments as keywords; `read_only` tools may run in parallel
    and need no approval; `runs_code` tools (run_python, or a function registered with
    `runs_code=True`) run only after approval (the `approve` setting).
    """

    name: str
    description: str
    parameters: Mapping[str, Any]
    function: Callable[..., Any]
    source: str = "python"  # "python", "notebook", "run_python" or "mcp:NAME"
    read_only: bool = False
    runs_code: bool = False
    # Runs on the calling thread, one at a time (run_python: the user's namespace, and the
    # approval buttons are only clickable from the kernel's shell thread).
    main_thread: bool = False
    converters: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)

    def definition(self) -> dict[str, Any]:
        """The entry of the request's `tools` list."""
        function: dict[str, Any] = {"name": self.name, "parameters": dict(self.parameters)}
        if self.description:
            function["description"] = self.description
        return {"type": "function", "function": function}

    def __call__(self, arguments: Mapping[str, Any]) -> Any:
        """Run with the model's arguments (pydantic model arguments built first)."""
        given = {
            name: self.converters[name](value) if name in self.converters else value
            for name, value in arguments.items()
        }
        return self.function(**given)


def tool_from_function(
    function: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    read_only: bool = False,
    source: str = "python",
    runs_code: bool = False,
) -> Tool:
    """A Tool from a Python function: schema from its hints, description from its docstring."""
    tool_name = name if name is not None else getattr(function, "__name__", "")
    if not _NAME.match(tool_name):
        raise ToolError(
            f"{tool_name!r} cannot be a tool name: use 1 to 64 letters, digits, '_' or '-' "
            "(pass name=... to @kimi_magic.tool)."
        )
    refuse_built_in_name(tool_name, source)
    doc_description, parameters = function_schema(function)
    try:
        hints = typing.get_type_hints(function)
    except (NameError, TypeError):
        hints = {}
    converters = {
        arg: model.model_validate
        for arg in inspect.signature(function).parameters
        if (model := pydantic_model(hints.get(arg))) is not None
    }
    return Tool(
        name=tool_name,
        description=description if description is not None else doc_description,
        parameters=parameters,
        function=function,
        source=source,
        read_only=read_only,
        runs_code=runs_code,
        converters=converters,
    )


def describe_source(source: str) -> str:
    """Where a tool comes from, for messages."""
    if source.startswith("mcp:"):
        return f"the MCP server {source[4:]!r}"
    return {
        "run_python": "the built-in run_python",
        "notebook": "the built-in notebook tools",
    }.get(source, "a registered Python function")


def refuse_built_in_name(name: str, source: str) -> None:
    """ToolError when a tool that is not built in would take a built-in tool's name."""
    if name in BUILT_IN_NAMES and source not in BUILT_IN_SOURCES:
        raise ToolError(
            f"A tool from {describe_source(source)} cannot be called {name!r}: that is the "
            "name of a built-in tool (run_python or a notebook tool), and a tool from "
            "elsewhere never takes a built-in's place, so a call by that name is always the "
            "built-in's (run_python's always asks for approval). Register it under another "
            "name, e.g. @kimi_magic.tool(name='my_" + name + "')."
        )


class Registry:
    """Registered Python tools by name; thread-safe, a later registration replaces one of the
    same name (re-running a notebook cell redefines the tool)."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self._lock = threading.Lock()

    def add(self, tool: Tool) -> Tool:
        with self._lock:
            self._tools[tool.name] = tool
        return tool

    def remove(self, name: str) -> None:
        with self._lock:
            self._tools.pop(name, None)

    def get(self, name: str) -> Tool:
        """The tool called `name`, or ToolError naming the closest registered ones."""
        with self._lock:
            found = self._tools.get(name)
            known = sorted(self._tools)
        if found is None:
            raise ToolError(unknown_tool_message(name, known))
        return found

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._tools)

    def all(self) -> list[Tool]:
        with self._lock:
            return [self._tools[name] for name in sorted(self._tools)]

    def clear(self) -> None:
        with self._lock:
            self._tools.clear()


def unknown_tool_message(name: str, known: Iterable[str]) -> str:
    """The paragraph for a tool name nobody registered."""
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(known) if known else "none yet"
    return (
        f"There is no tool called {name!r}.{hint} Registered tools: {listed}. Register a "
        "function with @kimi_magic.tool, or use the built-in groups notebook, python or "
        "mcp:SERVER."
    )


# The tools `@kimi_magic.tool` registers: like IPython's magics registry, one per process.
REGISTRY = Registry()


@overload
def tool(function: F, /) -> F: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    read_only: bool = False,
    runs_code: bool = False,
) -> Callable[[F], F]: ...
def tool(
    function: Any = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    read_only: bool = False,
    runs_code: bool = False,
) -> Any:
    """Register a function as a tool the model may call (`%%kimi --tools NAME`).

    `runs_code=True` marks a tool that runs code or commands (exec, a shell, a SQL
    console...): each call then waits for approval like run_python (the `approve` setting:
    ask, auto, deny), showing the call's arguments. A tool cannot take a built-in's name.

    >>> @kimi_magic.tool
    ... def weather(city: str, unit: Literal["C", "F"] = "C") -> str:
    ...     '''Today's weather in a city.
    ...
    ...     Args:
    ...         city: The city's name.
    ...     '''
    """

    def register(function: F) -> F:
        REGISTRY.add(
            tool_from_function(
                function,
                name=name,
                description=description,
                read_only=read_only,
                runs_code=runs_code,
            )
        )
        return function

    return register(function) if function is not None else register


def decode_arguments(text: str) -> dict[str, Any]:
    """The model's argument string as a dict; ValueError with what is wrong otherwise."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"The arguments are not valid JSON ({error.msg}): {text[:200]}") from None
    if not isinstance(value, dict):
        raise ValueError(f"The arguments must be a JSON object, not {type(value).__name__}.")
    return value
