"""The AI Gateway in front of the emulated Workers AI: its name and token checks, its response
cache (HIT on a repeated identical request within its cf-aig-cache-ttl), log ids, and its own
error replies (docs/design.md section 10)."""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
import time
from typing import Any

GATEWAY_ID = "my-gateway"
GATEWAY_PATH = re.compile(r"^/v1/[^/]+/([^/]+)/workers-ai/")

# The gateway's own refusals, as scripted faults: (HTTP status, code, message). The body shape
# `{"success": false, "result": [], "messages": [], "error": [{"code", "message"}]}` and 2009
# "Unauthorized" are what an authenticated gateway answered in Cloudflare's community forum;
# the codes of the other two are the emulator's own (Cloudflare's docs do not list them).
GATEWAY_FAULTS: dict[str, tuple[int, int, str]] = {
    "gateway_auth": (401, 2009, "Unauthorized"),
    "gateway_not_found": (404, 2001, "Gateway not found"),
    "gateway_rate_limit": (429, 2003, "Rate limited"),
}


def gateway_error(kind: str) -> tuple[int, dict[str, Any]]:
    """(status, body) of one of the gateway's own errors."""
    status, code, message = GATEWAY_FAULTS[kind]
    body = {
        "success": False,
        "result": [],
        "messages": [],
        "error": [{"code": code, "message": message}],
    }
    return status, body


class _Default:
    """A cached entry whose reply was the default one (None)."""


class GatewayState:
    """What the emulated gateway keeps: its token (None: not authenticated), cached replies
    by request, and the log ids it has given out."""

    def __init__(self) -> None:
        self.token: str | None = None
        self._cache: dict[str, tuple[float, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self.token = None
            self._cache.clear()

    def new_log_id(self) -> str:
        with self._lock:
            return f"01EMULOG{next(self._ids):018d}"

    @staticmethod
    def key(path: str, body: bytes) -> str:
        return hashlib.sha256(path.encode() + b"\n" + body).hexdigest()

    def lookup(self, key: str) -> tuple[bool, dict[str, Any] | None]:
        """(found, the reply then given); an expired entry is not found."""
        with self._lock:
            entry = self._cache.get(key)
            if entry is None or entry[0] < time.monotonic():
                self._cache.pop(key, None)
                return False, None
            reply = entry[1]
        return True, None if isinstance(reply, _Default) else reply

    def store(self, key: str, reply: dict[str, Any] | None, ttl: float) -> None:
        with self._lock:
            self._cache[key] = (time.monotonic() + ttl, _Default() if reply is None else reply)
