"""`n > 1` and `logprobs` for the emulated model: extra choices and made-up token probabilities.

Choice i > 0 says the scripted reply's `alternatives[i - 1]`, or the first choice's content
marked as an alternative. With `logprobs`, each content delta is one "token"; its probability
is derived from its text (so it is repeatable), and `top_logprobs` lists it first, then
invented runners-up.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from typing import Any


def choice_count(body: Mapping[str, Any] | None) -> int:
    n = (body or {}).get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1


def alternatives(content: str, reply: Mapping[str, Any], n: int) -> list[str]:
    """The contents of choices 1 .. n-1."""
    scripted = list(reply.get("alternatives") or [])
    return [
        str(scripted[i - 1]) if i - 1 < len(scripted) else f"(Alternative {i + 1}) {content}"
        for i in range(1, n)
    ]


def _probability(token: str) -> float:
    return 0.3 + 0.69 * (zlib.crc32(token.encode("utf-8")) % 1000) / 1000


def logprobs_for(pieces: list[str], body: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """OpenAI's `choices[i].logprobs` for these content pieces, or None when not asked for."""
    body = body or {}
    if body.get("logprobs") is not True:
        return None
    requested = body.get("top_logprobs")
    top = requested if isinstance(requested, int) else 0
    content = []
    for piece in pieces:
        p = _probability(piece)
        runners = [(piece, p)] + [
            (f"{piece.strip() or '_'}~{k}", (1 - p) / (k + 1)) for k in range(1, top)
        ]
        content.append(
            {
                "token": piece,
                "logprob": math.log(p),
                "bytes": list(piece.encode("utf-8")),
                "top_logprobs": [
                    {"token": t, "logprob": math.log(q), "bytes": list(t.encode())}
                    for t, q in runners[:top]
                ],
            }
        )
    return {"content": content}
