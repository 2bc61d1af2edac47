"""Reading files that anyone may have written: a save, replay or checkpoint file can be damaged
or crafted (wrong types, missing keys, deep nesting, not UTF-8, huge). Whatever is in one, the
reader gets values of the shape it expects or a `DamagedFile`: one paragraph that names the
file, says what is wrong and what to do. Never a traceback.

    text = read_text(path, SAVE)
    data = parse_json(text, path, SAVE)
    name = as_text(data.get("name"), "conversations[0].name")   # raises Shape
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .constants import FILE_MAX_BYTES, JSON_MAX_DEPTH
from .errors import ConfigurationError


class DamagedFile(ConfigurationError):
    """A file kimi_magic reads is not what it should be; the message says which and why."""


class Shape(ValueError):
    """A value read from a file has the wrong type; the message names where it is."""


@dataclass(frozen=True)
class Kind:
    """What a file is meant to be, and what to do when it is not."""

    name: str  # "conversation file"
    remedy: str  # one or two sentences: what the user can do


def damaged(path: Path | str, kind: Kind, problem: str) -> DamagedFile:
    """The one paragraph for a file that cannot be used."""
    return DamagedFile(f"{path} is not a usable {kind.name}: {problem}. {kind.remedy}")


def read_text(path: Path, kind: Kind, max_bytes: int = FILE_MAX_BYTES) -> str:
    """The file's text, or DamagedFile for a folder, a huge file, an unreadable one or bytes
    that are not UTF-8."""
    try:
        if path.is_dir():
            raise damaged(path, kind, "it is a folder, not a file")
        size = path.stat().st_size
        if size > max_bytes:
            raise damaged(
                path, kind, f"it is {size:,} bytes, more than the {max_bytes:,} such a file may be"
            )
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise damaged(path, kind, f"it is not UTF-8 text (byte {error.start:,})") from None
    except OSError as error:
        raise damaged(path, kind, f"it cannot be read ({error.strerror or error})") from None


def parse_json(text: str, path: Path | str, kind: Kind) -> Any:
    """JSON from a file's text, nested at most JSON_MAX_DEPTH deep, or DamagedFile."""
    try:
        return loads(text)
    except Shape as error:
        raise damaged(path, kind, str(error)) from None


def loads(text: str) -> Any:
    """JSON from `text`, nested at most JSON_MAX_DEPTH deep; Shape says what is wrong."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise Shape("it is nested too deeply to read") from None
    except ValueError as error:
        raise Shape(f"it is not JSON ({error})") from None
    if too_deep(value):
        raise Shape(f"it is nested more than {JSON_MAX_DEPTH} levels deep")
    return value


def too_deep(value: Any, limit: int = JSON_MAX_DEPTH) -> bool:
    """True when lists and objects nest more than `limit` levels (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


# -- shapes ------------------------------------------------------------------------------------


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def as_object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise Shape(f"{where} is {_kind_of(value)}, not an object")
    return value


def as_list(value: Any, where: str, optional: bool = True, length: int | None = None) -> list[Any]:
    """A list (absent: empty when optional), of exactly `length` items when given."""
    if value is None and optional:
        return []
    if not isinstance(value, list):
        raise Shape(f"{where} is {_kind_of(value)}, not a list")
    if length is not None and len(value) != length:
        raise Shape(f"{where} has {len(value)} items, not {length}")
    return value


def as_choice(value: Any, where: str, choices: frozenset[str]) -> str:
    """One of `choices`."""
    if value not in choices:
        shown = repr(value)[:40]
        raise Shape(f"{where} is {shown}, not one of {', '.join(sorted(choices))}")
    return str(value)


def as_text(value: Any, where: str, optional: bool = True) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise Shape(f"{where} is {_kind_of(value)}, not a string")
    return value


def as_number(value: Any, where: str, optional: bool = True) -> float:
    if value is None and optional:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Shape(f"{where} is {_kind_of(value)}, not a number")
    if not math.isfinite(value):
        raise Shape(f"{where} is {value!r}, not a finite number")
    return value


def as_count(value: Any, where: str) -> int:
    """A token count: a whole number, 0 or more (absent: 0)."""
    number = as_number(value, where)
    if number != int(number) or number < 0:
        raise Shape(f"{where} is {number!r}, not a whole number of 0 or more")
    return int(number)
