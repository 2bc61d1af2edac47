"""A job's checkpoint: JSON lines, one per finished item (or submitted batch), appended and
flushed as results arrive, so a rerun after an interrupt, a crash or a kernel restart sends
only what is missing.

Lines:
    {"i": 3, "key": "9f2c...", "text": "...", "usage": [prompt, cached, completion]}
    {"i": 4, "key": "77ab...", "error": "one paragraph"}          (sent again on a rerun)
    {"batch": "<request id>", "items": [[5, "key"], [6, "key"], ...]}   (polled, not resent)

`key` is a digest of the item's request: an item whose row changed is sent again.
A line cut short by a crash is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..core.types import Usage

JOBS_DIRECTORY = Path(".kimi_magic") / "jobs"


def digest(value: Any) -> str:
    """A short stable digest of a JSON-able value."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True)
class Done:
    """A finished item as the checkpoint remembers it."""

    key: str
    text: str
    usage: Usage


@dataclass
class Saved:
    """What a checkpoint file holds: finished items and submitted batches."""

    done: dict[int, Done] = field(default_factory=dict)
    errors: dict[int, tuple[str, str]] = field(default_factory=dict)  # index -> (key, message)
    batches: dict[str, list[tuple[int, str]]] = field(default_factory=dict)


class Checkpoint:
    """Append-only JSON lines at `path`. Without a path (checkpoint=False) nothing is kept,
    or, with `in_memory`, the records live as long as this object (a batch job needs them)."""

    def __init__(self, path: Path | None, in_memory: bool = False) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._memory: list[dict[str, Any]] | None = [] if in_memory and path is None else None

    def load(self) -> Saved:
        """Everything finished or submitted so far (an absent file: nothing)."""
        saved = Saved()
        records: Iterable[dict[str, Any]] = self._memory if self._memory is not None else ()
        if self.path is not None and self.path.is_file():
            records = _lines(self.path)
        for record in records:
            _apply(saved, record)
        return saved

    def add_result(self, index: int, key: str, text: str, usage: Usage) -> None:
        u = [usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens]
        self._write({"i": index, "key": key, "text": text, "usage": u})

    def add_error(self, index: int, key: str, message: str) -> None:
        self._write({"i": index, "key": key, "error": message})

    def add_batch(self, request_id: str, items: list[tuple[int, str]]) -> None:
        self._write({"batch": request_id, "items": [list(pair) for pair in items]})

    def _write(self, record: dict[str, Any]) -> None:
        if self._memory is not None:
            self._memory.append(record)
        if self.path is None:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
            if self._file.tell() > 0 and not _ends_with_newline(self.path):
                self._file.write("\n")  # a crash cut the last line short: start a fresh one
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()  # in the OS's hands now: a killed kernel loses nothing written

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8", errors="replace") as file:
        for line in file:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # cut short by a crash
            if isinstance(record, dict):
                yield record


def _apply(saved: Saved, record: dict[str, Any]) -> None:
    if "batch" in record:
        items = [(int(i), str(k)) for i, k in record.get("items") or ()]
        sent_again = set(items)
        for request_id, members in saved.batches.items():  # now waited for in the new batch
            saved.batches[request_id] = [m for m in members if m not in sent_again]
        saved.batches[str(record["batch"])] = items
        for member, member_key in items:  # sent again: an earlier failure no longer stands
            if saved.errors.get(member, ("",))[0] == member_key:
                del saved.errors[member]
        return
    index, key = record.get("i"), record.get("key")
    if not isinstance(index, int) or not isinstance(key, str):
        return
    if "text" in record:
        prompt, cached, completion = [*(record.get("usage") or []), 0, 0, 0][:3]
        saved.done[index] = Done(key, str(record["text"]), Usage(prompt, cached, completion))
        saved.errors.pop(index, None)
    elif "error" in record:
        saved.errors[index] = (key, str(record["error"]))
        if saved.done.get(index, Done("", "", Usage())).key != key:
            saved.done.pop(index, None)  # a later failure of a changed row: send it again


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as file:
        file.seek(0, os.SEEK_END)
        if file.tell() == 0:
            return True
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"
