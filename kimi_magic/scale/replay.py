"""Record and replay: every whole answer kept in a JSON-lines file beside the notebook, and
the same requests answered from it later with no network and no credentials, streamed at the
pace they were recorded at (a class still sees the answer arrive).

The file is stable: one line per distinct request, sorted keys, no timestamps or ids, never the
token; a rerun that gets the same answers leaves it byte for byte the same (a clean git diff).

The magic calls `client_for(connection)`: with `record` or `replay` in it (settings of the same
names, e.g. `%kimi record FILE`, KIMI_MAGIC_REPLAY=FILE) it returns a recording or replaying
client in place of `Kimi(**connection)`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..api.client import AnswerStream, Kimi
from ..api.endpoint import ApiKind, Endpoint
from ..api.wire import request_body
from ..core.constants import MODEL_ID
from ..core.errors import KimiError
from ..core.parameters import validate
from ..core.types import (
    Answer,
    Finish,
    ReasoningDelta,
    ResponseStarted,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageReport,
)
from .replay_diff import nearest_difference

# Keys of a body that change how an answer is delivered, not what it is.
DELIVERY_KEYS = frozenset({"stream", "stream_options"})
# A replayed answer is sent in pieces of about this many characters.
PIECE_CHARS = 12
PACE_DECIMALS = 1  # seconds are kept to a tenth: finer would churn the file for nothing


class ReplayMissing(KimiError):
    """Replay mode has no recorded answer for this request."""


def request_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """What identifies a request in the file: the body without its delivery keys."""
    return {k: v for k, v in body.items() if k not in DELIVERY_KEYS}


def key_of(request: Mapping[str, Any]) -> str:
    text = json.dumps(request, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


class ReplayFile:
    """The recorded answers of one file, by request key; thread safe."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self._entries[entry["key"]] = entry

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, request: Mapping[str, Any]) -> dict[str, Any] | None:
        return self._entries.get(key_of(request))

    def requests(self) -> list[dict[str, Any]]:
        return [entry["request"] for entry in self._entries.values()]

    def store(self, request: Mapping[str, Any], answer: Answer) -> None:
        """Keep a whole answer; an unchanged one leaves the file as it was."""
        key = key_of(request)
        entry = {"key": key, "request": dict(request), **_answer_record(answer)}
        with self._lock:
            old = self._entries.get(key)
            if old is not None and _same_answer(old, entry):
                return  # the same answer again: keep the recorded pace, no churn in git
            self._entries[key] = entry
            if old is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as file:
                    file.write(_line(entry))
                return
            text = "".join(_line(e) for e in self._entries.values())
            temporary = self.path.with_suffix(self.path.suffix + ".tmp")
            temporary.write_text(text, encoding="utf-8")
            temporary.replace(self.path)


def _line(entry: Mapping[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n"


def _answer_record(answer: Answer) -> dict[str, Any]:
    u = answer.usage
    latency = round(answer.latency or 0.0, PACE_DECIMALS)
    return {
        "answer": {
            "text": answer.text,
            "reasoning": answer.reasoning,
            "finish_reason": answer.finish_reason,
            "tool_calls": [[c.id, c.name, c.arguments] for c in answer.tool_calls],
        },
        "usage": [u.prompt_tokens, u.cached_tokens, u.completion_tokens],
        "pace": [latency, max(round(answer.seconds, PACE_DECIMALS), latency)],
    }


def _same_answer(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return bool(old.get("answer") == new["answer"] and old.get("usage") == new["usage"])


# -- recording -------------------------------------------------------------------------------


class RecordingStream(AnswerStream):
    """A live stream that writes its answer to the replay file once it is whole."""

    def __init__(self, base: AnswerStream, file: ReplayFile) -> None:
        super().__init__(base._client, base._body, base._session_id)
        self._file = file
        self._recorded = False

    def __iter__(self) -> Iterator[StreamEvent]:
        yield from super().__iter__()
        if not self._recorded and self.answer.complete and not self.stopped:
            self._recorded = True
            self._file.store(request_of(self._body), self.answer)


class RecordingClient:
    """A `Kimi` whose every whole answer is also written to a replay file."""

    def __init__(self, client: Kimi, path: str | Path) -> None:
        self.client = client
        self.file = ReplayFile(path)

    def stream(
        self, messages: Sequence[Any], *, session_id: str | None = None, **params: Any
    ) -> AnswerStream:
        return RecordingStream(
            self.client.stream(messages, session_id=session_id, **params), self.file
        )

    ask = Kimi.ask  # the same one-turn helper, over this stream()

    def __getattr__(self, name: str) -> Any:
        if name == "client":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.client, name)  # endpoint, max_retries, close, ...

    def __enter__(self) -> RecordingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()


# -- replaying -------------------------------------------------------------------------------


class ReplayedStream(AnswerStream):
    """The recorded answer as events, paced as it was recorded; Stop works as live."""

    def __init__(self, client: Any, body: dict[str, Any], entry: Mapping[str, Any]) -> None:
        super().__init__(client, body, None)
        self._entry = entry

    def _source(self) -> Iterator[StreamEvent]:
        answer, pace = self._entry["answer"], self._entry.get("pace") or [0.0, 0.0]
        latency, seconds = float(pace[0]), float(pace[1])
        pieces = _pieces(answer.get("reasoning") or "", ReasoningDelta) + _pieces(
            answer.get("text") or "", TextDelta
        )
        if self._stop_requested.wait(latency):
            return
        yield ResponseStarted(None, self._client.endpoint.model)
        step = max(seconds - latency, 0.0) / max(len(pieces), 1)
        for piece in pieces:
            yield piece
            if step and self._stop_requested.wait(step):
                return
        for position, (call_id, name, arguments) in enumerate(answer.get("tool_calls") or []):
            yield ToolCallDelta(position, call_id, name, arguments)
        yield Finish(answer.get("finish_reason"))
        prompt, cached, completion = self._entry.get("usage") or [0, 0, 0]
        yield UsageReport(Usage(prompt, cached, completion))


def _pieces(text: str, kind: type[ReasoningDelta] | type[TextDelta]) -> list[StreamEvent]:
    return [kind(text[i : i + PIECE_CHARS]) for i in range(0, len(text), PIECE_CHARS)]


class ReplayClient:
    """Answers from a replay file: no network, no credentials; a new request is an error."""

    def __init__(self, path: str | Path, model: str | None = None, api: str = "native") -> None:
        self.file = ReplayFile(path)
        if not self.file.path.is_file():
            raise ReplayMissing(
                f"Replay mode reads {self.file.path}, which does not exist. Record it first "
                "(record mode, e.g. record='FILE' or %kimi record FILE, against the live API), "
                "or fix the path."
            )
        kind: ApiKind = "openai" if api == "openai" else "native"
        self.endpoint = Endpoint(f"replay:{self.file.path}", kind, model or MODEL_ID)
        self.max_retries = 0
        self.defaults: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"ReplayClient({str(self.file.path)!r}, {len(self.file)} answers)"

    def stream(
        self, messages: Sequence[Any], *, session_id: str | None = None, **params: Any
    ) -> AnswerStream:
        """The recorded answer to this exact request, or ReplayMissing saying what differs."""
        merged = validate(params)
        if merged.get("max_tokens") is not None:
            merged.setdefault("max_completion_tokens", merged.pop("max_tokens"))
        stream = merged.pop("stream", True)
        model = self.endpoint.model if self.endpoint.kind == "openai" else None
        body = request_body(messages, merged, stream=stream is not False, model=model)
        entry = self.file.find(request_of(body))
        if entry is None:
            raise ReplayMissing(self._missing(request_of(body)))
        return ReplayedStream(self, body, entry)

    ask = Kimi.ask

    def _missing(self, request: Mapping[str, Any]) -> str:
        where = f"{self.file.path} ({len(self.file)} recorded answers)"
        found = nearest_difference(request, self.file.requests())
        differs = f" The nearest recorded request differs in {found}." if found else ""
        return (
            f"This request is not in the replay file {where}, so replay mode cannot answer it "
            f"and nothing was sent.{differs} Change it back to match the recording, or record "
            "it again against the live API (record mode)."
        )

    def close(self) -> None:
        """Nothing to close: no connection was opened."""

    def __enter__(self) -> ReplayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- what the magic and map call ---------------------------------------------------------------


def replay_client(path: str | Path, model: str | None = None, api: str = "native") -> ReplayClient:
    return ReplayClient(path, model, api)


def recording_client(client: Kimi, path: str | Path) -> RecordingClient:
    return RecordingClient(client, path)


def client_for(connection: dict[str, Any]) -> Any:
    """`Kimi(**connection)`, or with `record` / `replay` in `connection` (popped from it) the
    recording client around it / the replaying client in its place (which needs no credentials)."""
    record, replay = connection.pop("record", None), connection.pop("replay", None)
    if replay:
        return ReplayClient(replay, connection.get("model"), str(connection.get("api") or "native"))
    client = Kimi(**connection)
    return RecordingClient(client, record) if record else client
