"""The opt-in response cache: an identical request is answered from disk, not paid twice.

Identical means the same endpoint, model, messages and parameters (a fixed seed included; with
`seed_mode = "random"` every request differs). Only whole answers are stored. The replay goes
through the normal renderer, as a stream of the stored events.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.types import (
    Finish,
    LogprobsDelta,
    ReasoningDelta,
    ResponseStarted,
    StreamEvent,
    TextDelta,
    TokenLogprob,
    ToolCallDelta,
    Usage,
    UsageReport,
)
from .client import AnswerStream, Kimi

_EVENT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        Finish,
        LogprobsDelta,
        ReasoningDelta,
        ResponseStarted,
        TextDelta,
        ToolCallDelta,
        UsageReport,
    )
}
# Keys of the body that change how an answer is delivered, not what it is.
_DELIVERY_KEYS = frozenset({"stream", "stream_options"})


def default_directory() -> Path:
    """The cache folder when cache_dir is unset: $XDG_CACHE_HOME/kimi_magic/responses."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kimi_magic" / "responses"


def request_key(url: str, body: Mapping[str, Any]) -> str:
    """A stable hash of what determines the answer."""
    essential = {k: v for k, v in body.items() if k not in _DELIVERY_KEYS}
    text = json.dumps({"url": url, "body": essential}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _encode(event: StreamEvent) -> dict[str, Any]:
    return {"type": type(event).__name__, **dataclasses.asdict(event)}


def _decode(raw: Mapping[str, Any]) -> StreamEvent:
    fields = {k: v for k, v in raw.items() if k != "type"}
    kind = raw["type"]
    if kind == "UsageReport":
        return UsageReport(Usage(**fields["usage"]))
    if kind == "LogprobsDelta":
        tokens = tuple(
            TokenLogprob(t["token"], t["logprob"], tuple(tuple(a) for a in t["top"]))
            for t in fields["tokens"]
        )
        return LogprobsDelta(tokens, fields.get("choice", 0))
    event: StreamEvent = _EVENT_TYPES[kind](**fields)
    return event


class ReplayStream(AnswerStream):
    """An AnswerStream whose events come from the cache instead of the network."""

    def __init__(self, client: Kimi, body: dict[str, Any], events: Sequence[StreamEvent]) -> None:
        super().__init__(client, body, None)
        self._stored = list(events)
        self.answer.from_cache = True

    def _source(self) -> Iterator[StreamEvent]:
        yield from self._stored


class ResponseCache:
    """Whole answers on disk, one JSON file per request key."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_directory()

    def _path(self, stream: AnswerStream, client: Kimi) -> Path:
        return self.directory / f"{request_key(client.endpoint.url, stream._body)}.json"

    def lookup(self, stream: AnswerStream, client: Kimi) -> ReplayStream | None:
        """The cached replay of this request, or None."""
        path = self._path(stream, client)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            events = [_decode(item) for item in raw["events"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent or unreadable: ask the server
        return ReplayStream(client, stream._body, events)

    def store(self, stream: AnswerStream, client: Kimi) -> None:
        """Keep a finished, whole answer (never a partial or replayed one)."""
        if not stream.answer.complete or stream.answer.from_cache or not stream._events:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(stream, client)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(
            json.dumps({"events": [_encode(e) for e in stream._events]}, ensure_ascii=False),
            encoding="utf-8",
        )
        temporary.replace(path)  # atomic: a reader never sees half a file
