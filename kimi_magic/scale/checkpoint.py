"""A job's checkpoint: JSON lines, one per finished item (or submitted batch), appended and
flushed as results arrive, so a rerun after an interrupt, a crash or a kernel restart sends
only what is missing.

Lines:
    {"i": 3, "key": "9f2c...", "text": "...", "usage": [prompt, cached, completion]}
    {"i": 4, "key": "77ab...", "error": "one paragraph"}          (sent again on a rerun)
    {"batch": "<request id>", "items": [[5, "key"], [6, "key"], ...]}   (polled, not resent)

`key` is a digest of the item's request: an item whose row changed is sent again.
A line cut short by a crash is ignored; a line of the wrong shape (a hand edit, a crafted
file) stops the job before anything is sent, with one paragraph naming the file and the line.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..core.constants import FILE_MAX_BYTES
from ..core.file_checks import (
    Kind,
    Shape,
    as_count,
    as_list,
    as_text,
    damaged,
    too_deep,
)
from ..core.secrets import Redactor
from ..core.types import Usage

JOBS_DIRECTORY = Path(".kimi_magic") / "jobs"
CHECKPOINT = Kind(
    "map checkpoint",
    "Nothing was sent. Delete the file to run the job afresh (every item is sent again), or "
    "pass checkpoint=False or another path.",
)


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

    def __init__(
        self, path: Path | None, in_memory: bool = False, redactor: Redactor | None = None
    ) -> None:
        self.path = path
        self.redactor = redactor or Redactor()  # the job's secrets: never written to the file
        self._file: IO[str] | None = None
        self._memory: list[dict[str, Any]] | None = [] if in_memory and path is None else None

    def load(self) -> Saved:
        """Everything finished or submitted so far (an absent file: nothing)."""
        saved = Saved()
        records: Iterable[dict[str, Any]] = self._memory if self._memory is not None else ()
        if self.path is not None and self.path.exists():
            records = _lines(self.path)
        for record in records:
            try:
                _apply(saved, record)
            except Shape as error:
                raise damaged(self.path or "the checkpoint", CHECKPOINT, str(error)) from None
        return saved

    def add_result(self, index: int, key: str, text: str, usage: Usage) -> None:
        u = [usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens]
        text = self.redactor.redact(text).text
        self._write({"i": index, "key": key, "text": text, "usage": u})

    def add_error(self, index: int, key: str, message: str) -> None:
        self._write({"i": index, "key": key, "error": self.redactor.redact(message).text})

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
    """Each record, `line` added (for messages); a line cut short by a crash is skipped."""
    try:
        if path.is_dir():
            raise damaged(path, CHECKPOINT, "it is a folder, not a file")
        size = path.stat().st_size
        if size > FILE_MAX_BYTES:
            raise damaged(path, CHECKPOINT, f"it is {size:,} bytes, more than a checkpoint may be")
        file = path.open(encoding="utf-8", errors="replace")
    except OSError as error:
        raise damaged(path, CHECKPOINT, f"it cannot be read ({error.strerror})") from None
    with file:
        for number, line in enumerate(file, 1):
            try:
                record = json.loads(line)
            except RecursionError:
                raise damaged(path, CHECKPOINT, f"line {number} is nested too deeply") from None
            except ValueError:
                continue  # cut short by a crash
            if not isinstance(record, dict) or too_deep(record, 8):
                problem = "is nested too deeply" if isinstance(record, dict) else "is no record"
                raise damaged(path, CHECKPOINT, f"line {number} {problem}")
            yield {**record, "line": number}


def _apply(saved: Saved, record: dict[str, Any]) -> None:
    where = f"line {record.get('line', '?')}"
    if "batch" in record:
        as_text(record["batch"], f"the batch id on {where}", optional=False)
        items: list[tuple[int, str]] = []
        for listed in as_list(record.get("items"), f"the items on {where}"):
            pair = as_list(listed, f"an item ([index, key]) on {where}", False, 2)
            items.append((as_count(pair[0], f"an index on {where}"), as_text(pair[1], where)))
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
        raise Shape(f"{where} has no item index and key")
    if "text" in record:
        text = as_text(record["text"], f"the text on {where}", optional=False)
        counts = as_list(record.get("usage"), f"the usage on {where}")
        prompt, cached, completion = [
            *(as_count(n, f"the usage on {where}") for n in counts[:3]),
            0,
            0,
            0,
        ][:3]
        saved.done[index] = Done(key, text, Usage(prompt, cached, completion))
        saved.errors.pop(index, None)
    elif "error" in record:
        saved.errors[index] = (key, as_text(record["error"], f"the error on {where}"))
        if saved.done.get(index, Done("", "", Usage())).key != key:
            saved.done.pop(index, None)  # a later failure of a changed row: send it again


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as file:
        file.seek(0, os.SEEK_END)
        if file.tell() == 0:
            return True
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"
