"""Record and replay: every whole answer kept in a JSON-lines file beside the notebook, and
the same requests answered from it later with no network and no credentials, streamed at a
steady pace (a class still sees the answer arrive).

The file is stable: one line per distinct request, sorted keys, no timestamps, timings or ids,
never the token; recording the same session again, into the same file or a new one, gives the
same bytes (a clean git diff). Timings were left out because they differ on every run: the
replay's pace comes from the answer's length instead. A file recorded with a `pace` (seconds
to the first token and in all) is still replayed at that pace.
The settings `record` / `replay` (keywords, `%kimi record FILE`, KIMI_MAGIC_REPLAY=FILE) make
`Session.client` hand out a `RecordingClient` / `ReplayClient` (see `client_for_settings`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.answer import Answer
from ..core.call import Call
from ..core.constants import MODEL_ID
from ..core.errors import KimiError
from ..core.file_checks import (
    Kind,
    Shape,
    as_count,
    as_list,
    as_number,
    as_object,
    as_text,
    loads,
    read_text,
)
from ..core.parameters import normalized
from ..core.secrets import Redactor, redact_json
from ..core.types import (
    Finish,
    ReasoningDelta,
    ResponseStarted,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageReport,
)
from .client import Client
from .endpoint import ApiKind, Endpoint
from .replay_diff import nearest_difference
from .wire import request_body

# Keys of a body that change how an answer is delivered, not what it is.
DELIVERY_KEYS = frozenset({"stream", "stream_options"})
# A replayed answer is sent in pieces of about this many characters.
PIECE_CHARS = 12
REPLAY = Kind(
    "replay file",
    "Fix or delete the file (a merge conflict or a hand edit?), or record it again "
    "(record mode against the live API).",
)
# A replay streams at about this speed (some 100 tokens a second, a typical live pace), and no
# answer takes longer than REPLAY_MAX_SECONDS to replay.
REPLAY_CHARS_PER_SECOND = 400
REPLAY_MAX_SECONDS = 3.0


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
        if not self.path.exists():
            return
        try:
            text = read_text(self.path, REPLAY)
        except KimiError as error:
            raise ReplayMissing(str(error)) from None
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = checked_entry(loads(line))
            except Shape as error:
                raise ReplayMissing(
                    f"Line {number} of the replay file {self.path} is not a recorded answer: "
                    f"{error} (a merge conflict or a hand edit?). Fix or delete that line, "
                    "or record the file again."
                ) from None
            self._entries[entry["key"]] = entry

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, request: Mapping[str, Any]) -> dict[str, Any] | None:
        return self._entries.get(key_of(request))

    def requests(self) -> list[dict[str, Any]]:
        return [entry["request"] for entry in self._entries.values()]

    def store(
        self, request: Mapping[str, Any], answer: Answer, redactor: Redactor | None = None
    ) -> None:
        """Keep a whole answer; an unchanged one leaves the file as it was. The request and the
        answer are written redacted, as prompts are (the key is the request's as sent)."""
        key = key_of(request)
        redactor = redactor or Redactor.collect()
        record = redact_json({"request": dict(request), **_answer_record(answer)}, redactor)
        entry = {"key": key, **record}
        with self._lock:
            old = self._entries.get(key)
            if old is not None and _same_answer(old, entry):
                return  # the same answer again: the file stays as it was, no churn in git
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


def checked_entry(value: Any) -> dict[str, Any]:
    """One line of a replay file, every field the replay reads checked (Shape if not)."""
    entry = dict(as_object(value, "the line"))
    as_text(entry.get("key"), "its key", optional=False)
    as_object(entry.get("request"), "its request")
    answer = as_object(entry.get("answer"), "its answer")
    for name in ("text", "reasoning", "finish_reason"):
        as_text(answer.get(name), f"its answer's {name}")
    for i, call in enumerate(as_list(answer.get("tool_calls"), "its answer's tool_calls")):
        parts = as_list(call, f"its tool call {i} ([id, name, arguments])", False, 3)
        for part in parts:
            as_text(part, f"a part of its tool call {i}")
    for count in as_list(entry.get("usage"), "its usage", length=3):
        as_count(count, "a number of its usage")
    for seconds in as_list(entry.get("pace"), "its pace", length=2):
        as_number(seconds, "a number of its pace")
    return entry


def _line(entry: Mapping[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n"


def _answer_record(answer: Answer) -> dict[str, Any]:
    u = answer.usage
    return {
        "answer": {
            "text": answer.text,
            "reasoning": answer.reasoning,
            "finish_reason": answer.finish_reason,
            "tool_calls": [[c.id, c.name, c.arguments] for c in answer.tool_calls],
        },
        "usage": [u.prompt_tokens, u.cached_tokens, u.completion_tokens],
    }


def _same_answer(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return bool(old.get("answer") == new["answer"] and old.get("usage") == new["usage"])


# -- recording -------------------------------------------------------------------------------


class RecordingClient:
    """A client whose every whole answer is also written to a replay file."""

    def __init__(self, client: Client, path: str | Path) -> None:
        self.client = client
        self.file = ReplayFile(path)

    def stream(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        session_id: str | None = None,
        **params: Any,
    ) -> Call:
        call = self.client.stream(messages, session_id=session_id, **params)
        call.on_close(lambda: self._keep(call))  # runs once the stream has ended
        return call

    def _keep(self, call: Call) -> None:
        answer = call.answer
        if call.events and call.error is None and not call.stopped and answer.complete:
            endpoint = self.client.endpoint
            secrets = Redactor.collect(token=getattr(endpoint, "secrets", endpoint.token))
            self.file.store(request_of(call.body), answer, secrets)

    def __getattr__(self, name: str) -> Any:
        if name == "client":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.client, name)  # endpoint, max_retries, close, ...

    def __enter__(self) -> RecordingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()


# -- replaying -------------------------------------------------------------------------------


def _paced(entry: Mapping[str, Any], model: str) -> Callable[[Call], Iterator[StreamEvent]]:
    """The recorded answer as events at a steady pace (or an old file's recorded one); Stop
    works as live."""

    def source(call: Call) -> Iterator[StreamEvent]:
        answer = entry["answer"]
        pieces = _pieces(answer.get("reasoning") or "", ReasoningDelta)
        pieces += _pieces(answer.get("text") or "", TextDelta)
        latency, seconds = _pace(entry, len(pieces) * PIECE_CHARS)
        if call.wait_unless_stopped(latency):
            return
        yield ResponseStarted(None, model)
        step = max(seconds - latency, 0.0) / max(len(pieces), 1)
        for piece in pieces:
            yield piece
            if step and call.wait_unless_stopped(step):
                return
        for position, (call_id, name, arguments) in enumerate(answer.get("tool_calls") or []):
            yield ToolCallDelta(position, call_id, name, arguments)
        yield Finish(answer.get("finish_reason"))
        prompt, cached, completion = entry.get("usage") or [0, 0, 0]
        yield UsageReport(Usage(prompt, cached, completion))

    return source


def _pace(entry: Mapping[str, Any], chars: int) -> tuple[float, float]:
    """Seconds to the first piece and in all: a file's recorded `pace`, else from the length."""
    pace = entry.get("pace")
    if pace:
        return float(pace[0]), float(pace[1])
    return 0.0, min(chars / REPLAY_CHARS_PER_SECOND, REPLAY_MAX_SECONDS)


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
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        session_id: str | None = None,
        headers: Mapping[str, str] | None = None,  # an AI Gateway's: nothing is sent here
        **params: Any,
    ) -> Call:
        """The recorded answer to this exact request, or ReplayMissing saying what differs."""
        merged, _ = normalized(params)
        stream = merged.pop("stream", True)
        model = self.endpoint.model if self.endpoint.kind == "openai" else None
        body = request_body(messages, merged, stream=stream is not False, model=model)
        entry = self.file.find(request_of(body))
        if entry is None:
            raise ReplayMissing(self._missing(request_of(body)))
        source = _paced(entry, self.endpoint.model)
        return Call(
            body,
            source,
            session_id=session_id,
            url=self.endpoint.url,
            endpoint_kind=self.endpoint.kind,
        )

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


# -- where the session and map get their client ------------------------------------------------


def client_for_settings(
    record: str | None, replay: str | None, model: str, api: str, make: Callable[[], Client]
) -> Any:
    """The client for the `record` / `replay` settings: a ReplayClient (which needs no
    credentials: `make` is not called), a RecordingClient around `make()`, or `make()`."""
    if replay:
        return ReplayClient(replay, model, api)
    client = make()
    return RecordingClient(client, record) if record else client
