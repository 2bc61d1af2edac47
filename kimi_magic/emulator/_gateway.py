"""The AI Gateway in front of the emulated Workers AI: its name and token checks, its response
cache (HIT on a repeated identical request within its cf-aig-cache-ttl), log ids, and its own
error replies (docs/design.md section 10)."""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

GATEWAY_ID = "my-gateway"
GATEWAY_PATH = re.compile(r"^/v1/[^/]+/([^/]+)/workers-ai/")

# The gateway's own refusals, as scripted faults: (HTTP status, code, message), as the real
# gateway answered them. Cloudflare documents no list of these codes; what is documented and
# what was seen:
# - 2009 "Unauthorized", HTTP 401: an authenticated gateway without its token. Seen in
#   https://community.cloudflare.com/t/ai-gateway-authentication-failed-401-unauthorized/785119
#   and documented as "HTTP 401 with error code 2009" for a provider rejecting credentials in
#   https://developers.cloudflare.com/changelog/post/2026-10-05-provider-credential-errors/
# - 2001 "Please configure AI Gateway in the Cloudflare dashboard", HTTP 400 (not 404): a
#   gateway name the account does not have; the body was captured from the live API in public
#   client tests (2026-10), and "error code 2001" for a gateway not yet created is in e.g.
#   https://github.com/Ameen-Samad/ameenuddin.dev/blob/HEAD/SETUP-AI-GATEWAY-NOW.md
# - 2003 "Rate limited", HTTP 429: the gateway's own rate limit; the status is documented in
#   https://developers.cloudflare.com/ai-gateway/configuration/rate-limiting/ ("429 Too Many
#   Requests"), the code and body were captured in public client tests.
# Since 2026 the body also carries `name: "AiGatewayError"`, `httpCode` and `internalCode`.
GATEWAY_FAULTS: dict[str, tuple[int, int, str]] = {
    "gateway_auth": (401, 2009, "Unauthorized"),
    "gateway_not_found": (400, 2001, "Please configure AI Gateway in the Cloudflare dashboard"),
    "gateway_rate_limit": (429, 2003, "Rate limited"),
}


def gateway_error(kind: str, fault: Mapping[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """(status, body) of one of the gateway's own errors; a scripted fault may give its own
    `status`, `code` and `message` (codes the client has no paragraph for, e.g. 2041)."""
    status, code, message = GATEWAY_FAULTS[kind]
    given = fault or {}
    status = int(given.get("status") or status)
    code = int(given.get("code") or code)
    message = str(given.get("message") or message)
    body = {
        "success": False,
        "result": [],
        "messages": [],
        "error": [{"code": code, "message": message}],
        "name": "AiGatewayError",
        "httpCode": status,
        "internalCode": code,
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
