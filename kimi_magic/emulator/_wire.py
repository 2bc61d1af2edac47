"""The JSON shapes Workers AI sends: completions, stream chunks, error envelopes."""

from __future__ import annotations

import json
import random
import time
from typing import Any

from ..core.constants import MODEL_ID

# Cloudflare error codes the emulator knows, with the status and message Cloudflare pairs them with.
KNOWN_ERRORS: dict[int, tuple[int, str]] = {
    10000: (401, "Authentication error"),
    7000: (404, "No route for that URI"),
    7001: (405, "Method not allowed"),
    7003: (404, "Could not route to {path}, perhaps your object identifier is invalid?"),
    5007: (400, "No such model {model} or task"),
    3042: (400, "AiError: Invalid model"),
    5035: (403, "AiError: This model requires the Workers Paid plan"),
    3006: (413, "AiError: Request is too large"),
    3007: (408, "AiError: Request timeout"),
    3036: (
        429,
        "AiError: You have used up your daily free allocation of 10,000 neurons, "
        "please upgrade to Cloudflare's Workers Paid plan if you would like to continue usage.",
    ),
    3040: (429, "AiError: Capacity temporarily exceeded, please try again."),
    3043: (500, "AiError: Internal server error"),
    8001: (400, "AiError: Invalid input"),
}

# What code an error status gets when a fault names only the status.
DEFAULT_CODE_FOR_STATUS: dict[int, int] = {
    400: 8001,
    401: 10000,
    403: 5035,
    404: 7003,
    408: 3007,
    413: 3006,
    429: 3040,
}

OPENAI_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_denied_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


# Request and completion ids need to be unique, not secret: one generator of our own (its own
# state, so a user's random.seed is untouched) instead of an os.urandom call for each.
_IDS = random.Random()


def new_ray_id() -> str:
    """A `cf-ray` style request id: 16 hex digits and a data-centre code."""
    return f"{_IDS.getrandbits(64):016x}-EMU"


def new_completion_id() -> str:
    """An OpenAI-style completion id."""
    return f"chatcmpl-{_IDS.getrandbits(96):024x}"


def dumps(obj: object) -> str:
    """Compact JSON with raw UTF-8, as the live API sends it."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def envelope(result: object) -> dict[str, Any]:
    """A successful Cloudflare API envelope."""
    return {"result": result, "success": True, "errors": [], "messages": []}


def error_envelope(code: int, message: str) -> dict[str, Any]:
    """A failed Cloudflare API envelope."""
    return {
        "success": False,
        "errors": [{"code": code, "message": message}],
        "messages": [],
        "result": None,
    }


def openai_error(status: int, message: str, type_: str | None, code: object) -> dict[str, Any]:
    """An OpenAI-shaped error body."""
    kind = type_ or OPENAI_ERROR_TYPES.get(status, "api_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def reasoning_fields(reasoning_field: str, text: str) -> dict[str, str]:
    """The reasoning key (or keys) a message or delta carries for `reasoning_field`."""
    if reasoning_field == "both":
        return {"reasoning": text, "reasoning_content": text}
    return {reasoning_field: text}


def chunk(
    completion_id: str,
    created: int,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    usage: dict[str, Any] | None = None,
    index: int = 0,
    logprobs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One `chat.completion.chunk` (of choice `index`)."""
    choice = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL_ID,
        "choices": [choice],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def completion(
    completion_id: str,
    message: dict[str, Any],
    finish_reason: str,
    usage: dict[str, Any],
    created: int | None = None,
) -> dict[str, Any]:
    """One non-streaming `chat.completion`."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": MODEL_ID,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": usage,
    }


def sse_event(payload: str, line_ending: str = "\n") -> bytes:
    """One server-sent event carrying `payload` as its data line."""
    return f"data: {payload}{line_ending}{line_ending}".encode()
