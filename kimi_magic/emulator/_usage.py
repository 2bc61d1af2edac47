"""Token counts the way the emulator estimates them, and a simulated prefix cache."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import threading
from collections.abc import Mapping
from typing import Any

CHARS_PER_TOKEN = 4
# Cached prefixes are reported in whole blocks, as paged KV caches do.
CACHE_BLOCK_TOKENS = 16
# Without `x-session-affinity` a request may land on a replica that never saw the prefix.
UNPINNED_HIT_FRACTION = 0.5


def tokens_for_chars(chars: int) -> int:
    """About one token per four characters, rounded up."""
    return -(-chars // CHARS_PER_TOKEN)


def estimate_tokens(text: str) -> int:
    """The token estimate of `text`."""
    return tokens_for_chars(len(text))


# A vision model sees an image as patches (about 28 x 28 pixels a token), not as its base64.
PIXELS_PER_IMAGE_TOKEN = 784
IMAGE_TOKENS_UNKNOWN_SIZE = 1_000
_DATA_URL = re.compile(r"data:image/[\w.+-]+;base64,[A-Za-z0-9+/=]+")


def image_tokens(data_url: str) -> int:
    """Tokens for an image: from a PNG's size in its header, else a typical figure's count."""
    head = base64.b64decode(data_url.split(",", 1)[1][:44] + "==", validate=False)
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return max(1, -(-width * height // PIXELS_PER_IMAGE_TOKEN))
    return IMAGE_TOKENS_UNKNOWN_SIZE


def _image_stand_in(match: re.Match[str]) -> str:
    # Same length for the same image (so the prefix cache still works), sized by its tokens.
    url = match.group(0)
    digest = hashlib.sha1(url.encode()).hexdigest()
    return (digest * (1 + image_tokens(url) * CHARS_PER_TOKEN // len(digest)))[
        : image_tokens(url) * CHARS_PER_TOKEN
    ]


def prompt_text(body: Mapping[str, Any]) -> str:
    """The text a request puts in front of the model: tool definitions, then the messages,
    with each image counted by its size rather than by its base64 length."""
    parts: list[str] = []
    tools = body.get("tools")
    if tools:
        parts.append(json.dumps(tools, ensure_ascii=False))
    if "messages" in body:
        parts.append(json.dumps(body["messages"], ensure_ascii=False))
    else:
        parts.append(str(body.get("prompt", "")))
    return _DATA_URL.sub(_image_stand_in, "".join(parts))


def usage(
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int,
    override: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An OpenAI usage object, with a scripted `override` merged on top."""
    result: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens},
    }
    if override:
        details = {**result["prompt_tokens_details"], **override.get("prompt_tokens_details", {})}
        result.update(override)
        result["prompt_tokens_details"] = details
        if "total_tokens" not in override:
            result["total_tokens"] = result["prompt_tokens"] + result["completion_tokens"]
    return result


class PrefixCache:
    """Remembers the last prompt per affinity key and reports how much of a new one is cached."""

    def __init__(self) -> None:
        self._last: dict[str | None, str] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every prompt."""
        with self._lock:
            self._last.clear()

    def cached_tokens(self, affinity: str | None, text: str) -> int:
        """Tokens of `text` shared with the previous prompt under `affinity`; then remember it."""
        with self._lock:
            previous = self._last.get(affinity)
            self._last[affinity] = text
        if previous is None:
            return 0
        tokens = _common_prefix(previous, text) // CHARS_PER_TOKEN
        if affinity is None:
            tokens = int(tokens * UNPINNED_HIT_FRACTION)
        # The last prompt token is always computed afresh.
        tokens = min(tokens, estimate_tokens(text) - 1)
        return max(0, tokens // CACHE_BLOCK_TOKENS * CACHE_BLOCK_TOKENS)


def _common_prefix(a: str, b: str) -> int:
    """How many leading characters `a` and `b` share (binary search: slices compare in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low
