"""What differs between a request and the nearest one recorded: for the replay-miss error."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any

CONTEXT_CHARS = 30
MAX_COMPARED = 2_000  # beyond this many recorded requests, only the first are compared


def nearest_difference(request: Mapping[str, Any], recorded: Sequence[Mapping[str, Any]]) -> str:
    """`message 2 (user): recorded "...three plots...", now "...four plots..."`, or ""."""
    if not recorded:
        return ""
    text = _text(request)
    candidates = recorded[:MAX_COMPARED]
    nearest = max(candidates, key=lambda r: difflib.SequenceMatcher(None, _text(r), text).ratio())
    return "; ".join(_differences(nearest, request)[:3])


def _text(request: Mapping[str, Any]) -> str:
    return json.dumps(request, sort_keys=True, ensure_ascii=False)


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for name in sorted(set(old) | set(new)):
        if name == "messages" or old.get(name) == new.get(name):
            continue
        found.append(f"{name}: recorded {_short(old.get(name))}, now {_short(new.get(name))}")
    before, after = list(old.get("messages") or []), list(new.get("messages") or [])
    if len(before) != len(after):
        found.insert(0, f"the number of messages: recorded {len(before)}, now {len(after)}")
    for position, (a, b) in enumerate(zip(before, after, strict=False), start=1):
        if a != b:
            found.insert(0, _message_difference(position, a, b))
            break
    return found


def _message_difference(position: int, old: Any, new: Any) -> str:
    role = new.get("role") if isinstance(new, Mapping) else "?"
    a, b = _content(old), _content(new)
    start = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    low = max(start - CONTEXT_CHARS, 0)
    return (
        f'message {position} ({role}): recorded "{_cut(a, low, start)}", '
        f'now "{_cut(b, low, start)}"'
    )


def _content(message: Any) -> str:
    if isinstance(message, Mapping):
        content = message.get("content")
        return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    return json.dumps(message, ensure_ascii=False)


def _cut(text: str, low: int, start: int) -> str:
    piece = text[low : start + CONTEXT_CHARS]
    return ("…" if low else "") + piece + ("…" if start + CONTEXT_CHARS < len(text) else "")


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:59] + "…"
