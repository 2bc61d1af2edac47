"""Where a request goes and what its body is: the API routes of Workers AI and the AI Gateway,
and a JSON body parsed or marked invalid."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    """An API path: the reply shape, the account in it, and the model (None: in the body)."""

    shape: str  # "native" (Cloudflare envelope) or "openai" (bare chat.completion)
    account: str
    model: str | None


_ROUTES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^/client/v4/accounts/([^/]+)/ai/run/(.+)$"), "native"),
    (re.compile(r"^/client/v4/accounts/([^/]+)/ai/v1/chat/completions/?$"), "openai"),
    (re.compile(r"^/v1/([^/]+)/[^/]+/workers-ai/v1/chat/completions/?$"), "openai"),
    (re.compile(r"^/v1/([^/]+)/[^/]+/workers-ai/run/(.+)$"), "native"),
    (re.compile(r"^/v1/([^/]+)/[^/]+/workers-ai/(.+)$"), "native"),
)


def route(path: str) -> Route | None:
    """The API route of a percent-decoded path, or None."""
    for pattern, shape in _ROUTES:
        match = pattern.match(path)
        if match:
            model = match.group(2) if shape == "native" else None
            return Route(shape, match.group(1), model)
    return None


class Invalid:
    """The parse result of a body that is not JSON."""


INVALID = Invalid()


def parse_json(body: bytes) -> object:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return INVALID
