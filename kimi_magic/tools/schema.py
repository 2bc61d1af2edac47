"""A Python function's JSON Schema for the `tools` list: from its type hints and docstring.

Hints map to JSON types (str, int, float, bool, None, list[X], tuple, dict[str, X], Literal,
Enum, Optional / X | None, TypedDict-free plain classes fall back to "any"); a pydantic model
parameter contributes its own `model_json_schema()`. The docstring's first paragraph is the
description, and an `Args:` / `Parameters` / `:param x:` section describes each argument.
"""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_SIMPLE: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    Any: {},
}
_ARGS_HEADERS = re.compile(r"^\s*(Args|Arguments|Parameters|Params)\s*:?\s*$", re.IGNORECASE)
_SECTION = re.compile(
    r"^\s*(Returns?|Raises|Yields|Examples?|Notes?|See Also)\s*:?\s*$", re.IGNORECASE
)
_RST_PARAM = re.compile(r"^\s*:param\s+(?:\S+\s+)?(\w+)\s*:\s*(.*)$")
_GOOGLE_PARAM = re.compile(r"^\s*(\*{0,2}\w+)\s*(\([^)]*\))?:\s*(.*)$")
_NUMPY_PARAM = re.compile(r"^\s*(\w+)\s+:\s*(.*)$")


def json_type(hint: Any) -> dict[str, Any]:
    """The JSON Schema of one type hint ({} when it has no JSON counterpart)."""
    if hint in _SIMPLE:
        return dict(_SIMPLE[hint])
    model_schema = _pydantic_schema(hint)
    if model_schema is not None:
        return model_schema
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [member.value for member in hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        options = [json_type(arg) for arg in args]
        return {"anyOf": options} if all(options) else {}
    if origin is typing.Annotated:
        return json_type(args[0])
    if hint in (list, tuple, set, frozenset) or origin in (list, set, frozenset, Sequence):
        return {"type": "array", **({"items": json_type(args[0])} if args else {})}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": json_type(args[0])}
        return {"type": "array", "prefixItems": [json_type(a) for a in args]}
    if hint is dict or origin in (dict, Mapping):
        schema: dict[str, Any] = {"type": "object"}
        if len(args) == 2 and json_type(args[1]):
            schema["additionalProperties"] = json_type(args[1])
        return schema
    return {}


def pydantic_model(hint: Any) -> Any:
    """`hint` when it is a pydantic model class (it has `model_validate`), else None."""
    return hint if isinstance(hint, type) and hasattr(hint, "model_validate") else None


def _pydantic_schema(hint: Any) -> dict[str, Any] | None:
    """A pydantic model's schema (its `$defs` are hoisted by `function_schema`), or None."""
    if not (isinstance(hint, type) and hasattr(hint, "model_json_schema")):
        return None
    schema: dict[str, Any] = hint.model_json_schema()
    return schema


def describe_parameters(doc: str) -> tuple[str, dict[str, str]]:
    """The docstring's description (up to its argument section) and each argument's text.

    Reads Google (`Args:` then `name (type): text`), NumPy (`Parameters` / `----------` then
    `name : type` and indented text) and reST (`:param name: text`) styles.
    """
    description: list[str] = []
    params: dict[str, str] = {}
    section, current, item_indent = "description", None, -1
    for line in inspect.cleandoc(doc or "").splitlines():
        rst = _RST_PARAM.match(line)
        if rst:
            section, current = "rst", rst.group(1)
            params[current] = rst.group(2).strip()
        elif _ARGS_HEADERS.match(line):
            section, current, item_indent = "args", None, -1
        elif _SECTION.match(line) or line.strip().startswith(":return"):
            section, current = "other", None
        elif section == "description":
            description.append(line)
        elif section in ("args", "rst") and line.strip() and set(line.strip()) != {"-"}:
            indent = len(line) - len(line.lstrip())
            item = _item(line) if item_indent in (-1, indent) and section == "args" else None
            if item is not None:
                item_indent, (current, params[item[0]]) = indent, item
            elif current is not None:
                params[current] = f"{params[current]} {line.strip()}".strip()
    return "\n".join(description).strip(), params


def _item(line: str) -> tuple[str, str] | None:
    """(name, text) of an argument section's entry line, or None."""
    numpy = _NUMPY_PARAM.match(line)
    if numpy:  # `name : type`, the text follows on indented lines
        return numpy.group(1), ""
    google = _GOOGLE_PARAM.match(line)
    if google:
        return google.group(1).lstrip("*"), google.group(3).strip()
    return None


def function_schema(function: Callable[..., Any]) -> tuple[str, dict[str, Any]]:
    """(description, parameters schema) of `function` for a tool definition."""
    signature = inspect.signature(function)
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except (NameError, TypeError):  # an unresolvable forward reference: use what is there
        hints = {}
    description, texts = describe_parameters(inspect.getdoc(function) or "")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        schema = json_type(hints.get(name, Any))
        if texts.get(name):
            schema["description"] = texts[name]
        if parameter.default is parameter.empty:
            required.append(name)
        elif _json_able(parameter.default):
            schema["default"] = parameter.default
        properties[name] = schema
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    # pydantic's `$ref`s point at the document root: hoist each model's `$defs` there.
    definitions: dict[str, Any] = {}
    for schema in properties.values():
        definitions.update(schema.pop("$defs", {}))
    if definitions:
        parameters["$defs"] = definitions
    if required:
        parameters["required"] = required
    return description, parameters


def _json_able(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))
