"""What one map job is: its template, instruction, output shape and parameters, the request
each item becomes, the job's id (checkpoint name, session affinity) and its results."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from ..core.answer import Answer
from ..core.errors import ConfigurationError, KimiError
from ..core.secrets import Redactor
from ..prompt.structured import OutputSpec, StructuredOutputError, spec_from
from .checkpoint import JOBS_DIRECTORY, Checkpoint, Done, Saved, digest
from .engine import WorkItem
from .estimate import Estimate, estimate
from .progress import NoProgress
from .source import Source
from .state import JobState
from .template import Template


@dataclass(frozen=True)
class JobSpec:
    """Everything that decides the requests; two calls with the same spec are the same job."""

    template: Template
    system: str  # the shared instruction (+ the schema's instruction): first in every request
    params: dict[str, Any]
    output: OutputSpec | None
    model: str
    # The session's secrets: each row's prompt is redacted as a cell's is (not part of the job).
    redactor: Redactor = field(default_factory=Redactor, compare=False)
    # Through an AI Gateway: each request's cf-aig-* headers (api/gateway.py; not the job's).
    headers: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def job_id(self) -> str:
        return digest([self.template.text, self.system, self.params, self.model])[:16]

    @property
    def session_id(self) -> str:
        """One `x-session-affinity` per job, so every request lands where the prefix is cached."""
        return f"kimi-map-{self.job_id}"

    def messages(self, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        user = {"role": "user", "content": self.redactor.redact(self.template.render(row)).text}
        if not self.system:
            return [user]
        return [self._system_message, user]

    @cached_property
    def _system_message(self) -> dict[str, Any]:
        """The shared instruction, redacted once per job, not once per item (the requests
        only read it: the client copies what it changes)."""
        return {"role": "system", "content": self.redactor.redact(self.system).text}

    def key(self, messages: list[dict[str, Any]]) -> str:
        return digest([self.job_id, messages[-1]["content"]])

    def default_checkpoint(self) -> Path:
        return JOBS_DIRECTORY / f"{self.job_id}.jsonl"


def output_spec(schema: Any, endpoint_kind: str) -> tuple[OutputSpec | None, dict[str, Any]]:
    """The OutputSpec for `schema=` (a JSON Schema dict, a pydantic model class, or True for
    any JSON object) and the `response_format` parameter it adds."""
    if schema is None or schema is False:
        return None, {}
    try:
        found = spec_from(schema is True, None if schema is True else "s", {"s": schema})
    except KimiError as error:  # its words name the magic's flag; here it is a keyword
        raise ConfigurationError(str(error).replace("--schema s", "schema=")) from None
    if found is None:  # spec_from returns None only when neither flag is given
        raise ConfigurationError(
            f"schema= cannot be {schema!r}: give a JSON Schema dict, a pydantic model or True."
        )
    spec = found
    if spec.schema is not None:
        # Import the validator now: an interrupt landing inside its first import, mid-job,
        # would leave a half-initialised module behind for the rest of the session.
        _import_validator()
    spec = replace(spec, label="schema=")
    return spec, {"response_format": spec.response_format(endpoint_kind)}


def _import_validator() -> None:
    with contextlib.suppress(ImportError):
        import jsonschema.validators  # noqa: F401


def job_spec(
    template: str,
    instruction: str | None,
    system: str | None,
    schema: Any,
    params: dict[str, Any],
    endpoint_kind: str,
    model: str,
    redactor: Redactor | None = None,
) -> JobSpec:
    spec, extra = output_spec(schema, endpoint_kind)
    shared = [text for text in (system, instruction) if text]
    if spec is not None:
        shared.append(spec.instruction())
    return JobSpec(
        Template(template),
        "\n\n".join(shared),
        {**params, **extra},
        spec,
        model,
        redactor or Redactor.collect(),
    )


def checkpoint_for(spec: JobSpec, checkpoint: Any) -> Checkpoint:
    """checkpoint=None: the job's default file; False: none; a path: that file."""
    if checkpoint is False:
        return Checkpoint(None)
    path = spec.default_checkpoint() if checkpoint in (None, True) else Path(checkpoint)
    return Checkpoint(path, redactor=spec.redactor)


@dataclass
class Collector:
    """Keeps each item's result in place, writes the checkpoint, and draws the progress."""

    spec: JobSpec
    checkpoint: Checkpoint
    view: NoProgress
    values: list[Any] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)

    def place(self, index: int, value: Any) -> None:
        if index >= len(self.values):
            self.values.extend([None] * (index + 1 - len(self.values)))
        self.values[index] = value

    def keep(self, index: int, text: str) -> bool:
        """Store an answer's text (parsed when a schema was asked for); False if it is unusable."""
        if self.spec.output is None:
            self.place(index, text)
            return True
        try:
            self.place(index, self.spec.output.parse(text))
        except StructuredOutputError as error:
            self.place(index, None)
            self.errors[index] = str(error)
            return False
        self.errors.pop(index, None)
        return True

    def on_answer(self, item: WorkItem, answer: Answer) -> bool:
        self.checkpoint.add_result(item.index, item.key, answer.text, answer.usage)
        return self.keep(item.index, answer.text)

    def on_failure(self, item: WorkItem, message: str) -> None:
        self.checkpoint.add_error(item.index, item.key, message)
        self.place(item.index, None)
        self.errors[item.index] = message

    def on_tick(self, state: JobState) -> bool:
        return self.view.tick(state)


def work_items(
    source: Source, spec: JobSpec, saved: Saved, collector: Collector, state: JobState
) -> Iterator[WorkItem]:
    """The items still to send, built one at a time; finished ones come from the checkpoint."""
    for index, row in enumerate(source.rows()):
        messages = spec.messages(row)
        key = spec.key(messages)
        done: Done | None = saved.done.get(index)
        if done is not None and done.key == key:
            state.resumed += 1
            if not collector.keep(index, done.text):
                state.resumed -= 1
                state.failed += 1
            continue
        collector.place(index, None)
        yield WorkItem(index, key, messages)


def estimate_job(source: Source, spec: JobSpec, saved: Saved, batch: bool) -> Estimate:
    """What the items still to send would cost (one lazy pass: renders and digests, nothing
    kept); an input of unknown length cannot be told in advance."""
    if source.length is None:
        return Estimate(None, estimate([], 0, None).usage, 0, True)
    lengths = []
    resumed = 0
    for index, row in enumerate(source.rows()):
        messages = spec.messages(row)
        done = saved.done.get(index)
        if done is not None and done.key == spec.key(messages):
            resumed += 1
            continue
        lengths.append(sum(len(str(m["content"])) for m in messages))
    limit = spec.params.get("max_completion_tokens")
    return estimate(lengths, len(spec.system), limit, resumed, batch)
