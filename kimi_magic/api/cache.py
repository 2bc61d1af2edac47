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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.call import Call
from ..core.file_checks import loads
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


def replay(call: Call, events: Sequence[StreamEvent]) -> Call:
    """A call like `call` whose events come from the cache instead of the network."""
    stored = list(events)
    replayed = Call(
        call.body,
        lambda _call: iter(stored),
        session_id=call.session_id,
        url=call.url,
        endpoint_kind=call.endpoint_kind,
    )
    replayed.answer.from_cache = True
    return replayed


class ResponseCache:
    """Whole answers on disk, one JSON file per request key."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_directory()

    def _path(self, call: Call) -> Path:
        return self.directory / f"{request_key(call.url, call.body)}.json"

    def lookup(self, call: Call) -> Call | None:
        """The cached replay of this request, or None."""
        try:
            # A crafted entry (deep nesting, wrong types) is as good as absent.
            raw = loads(self._path(call).read_text(encoding="utf-8"))
            events = [_decode(item) for item in raw["events"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # absent or unreadable: ask the server
        return replay(call, events)

    def store(self, call: Call) -> None:
        """Keep a finished, whole answer (never a partial or replayed one)."""
        if not call.answer.complete or call.answer.from_cache or not call.events:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(call)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(
            json.dumps({"events": [_encode(e) for e in call.events]}, ensure_ascii=False),
            encoding="utf-8",
        )
        temporary.replace(path)  # atomic: a reader never sees half a file
