"""Talking to the emulator with plain httpx: its URLs, bodies and the events it streams."""

from __future__ import annotations

import json
from typing import Any

import httpx
from _canary import CANARY

from kimi_magic.core.constants import MODEL_ID
from kimi_magic.emulator import Emulator

TOKEN = CANARY  # the session emulator's token (tests/conftest.py)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HELLO = {"messages": [{"role": "user", "content": "Hello there, emulator"}]}


def native_url(emu: Emulator, model: str = MODEL_ID) -> str:
    return f"{emu.base_url}/accounts/{emu.account_id}/ai/run/{model}"


def openai_url(emu: Emulator) -> str:
    return f"{emu.openai_base_url}/chat/completions"


def stream_body(**extra: Any) -> dict[str, Any]:
    return {**HELLO, "stream": True, **extra}


def sse_data(response: httpx.Response) -> list[str]:
    """The data payloads of a streamed response, in order."""
    return [line[6:] for line in response.iter_lines() if line.startswith("data: ")]


def stream(http: httpx.Client, emu: Emulator, **extra: Any) -> tuple[httpx.Response, list[str]]:
    with http.stream("POST", native_url(emu), headers=AUTH, json=stream_body(**extra)) as r:
        return r, sse_data(r)


def chunks(payloads: list[str]) -> list[dict[str, Any]]:
    """The JSON events before `[DONE]`."""
    return [json.loads(p) for p in payloads if p != "[DONE]"]


def deltas(payloads: list[str]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks(payloads) if c.get("choices")]


def joined(payloads: list[str], key: str) -> str:
    return "".join(d.get(key) or "" for d in deltas(payloads))
