"""A map job on Workers AI's async batch queue: submit what is missing, poll with backoff,
put results back in input order, and resume after a kernel restart from the request ids the
checkpoint keeps (docs/design.md sections 4 and 6). The wire shapes are in api/batch.py."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..api import batch as wire
from ..core.answer import Answer
from ..core.errors import APIStatusError, ConfigurationError
from .checkpoint import Checkpoint, Saved
from .estimate import Estimate
from .job import Collector, JobSpec, checkpoint_for, estimate_job
from .output import MapSummary, aligned, summary_of
from .progress import NoProgress, progress_view
from .setup import new_client, prepare
from .source import Source
from .state import JobState

if TYPE_CHECKING:
    from .output import MapOutput

POLL_GROWTH = 1.5  # each batch's wait between polls grows by this, from poll_interval
POLL_MAX_S = 30.0
TICK_S = 0.1  # how often a waiting job looks at Stop and redraws
UNKNOWN_REQUEST_CODE = 8001  # what a poll for an unknown request id is answered with


@dataclass
class BatchJob:
    """A submitted job: keep it to ask `status` / `results`; after a restart, calling
    `kimi_magic.batch_submit` with the same input and template finds it again."""

    source: Source
    spec: JobSpec
    client: Any
    checkpoint: Checkpoint
    expand: bool = True
    poll_interval: float = 2.0
    owned: bool = False  # `client` is made per call from `connection` (and closed after it)
    connection: dict[str, Any] = field(default_factory=dict)
    flags: dict[str, Any] = field(default_factory=dict)
    progress: Any = True
    started: float = field(default_factory=time.monotonic)
    # Counts each harvested result in the session's ledger (`%kimi usage`: `batch <id>`).
    count: Callable[[Answer], None] | None = field(default=None, repr=False)
    estimate: Estimate | None = None  # told before it was submitted

    def __repr__(self) -> str:
        where = self.checkpoint.path or "no checkpoint"
        return f"BatchJob({self.spec.job_id}, {self.source.length} items, {where})"


@dataclass(frozen=True)
class BatchStatus:
    """Where a job stands: items answered / failed / waiting, and each batch's state."""

    items: int
    done: int
    failed: int
    waiting: int
    batches: dict[str, str]

    @property
    def finished(self) -> bool:
        return self.waiting == 0

    def __str__(self) -> str:
        states = [s for s in self.batches.values() if s != "done"]
        queued, running = states.count("queued"), states.count("running")
        return (
            f"{self.done:,} of {self.items:,} items answered, {self.failed:,} failed, "
            f"{self.waiting:,} waiting ({len(self.batches)} batches: {queued} queued, "
            f"{running} running)."
        )


def submit(items: Any, template: str, **keywords: Any) -> BatchJob:
    """Queue every item not yet answered (nothing twice) and return the job at once. The
    session's cap and `job_max_cost` are checked against the estimate before anything is
    sent (a batch is paid whole); an iterator is read once, into a list the job keeps."""
    keys = ("instruction", "system", "schema", "client", "session")
    named = {k: keywords.pop(k, None) for k in keys}
    prepared = prepare(items, template, **named, keywords=keywords)  # type: ignore[arg-type]
    options = prepared.options
    source = prepared.source.materialised()
    store = _checkpoint(prepared.spec, options.checkpoint)
    job = BatchJob(
        source,
        prepared.spec,
        prepared.client,
        store,
        options.expand,
        options.poll_interval,
        prepared.session is not None,
        dict(prepared.connection),
        dict(prepared.flags),
        options.progress,
        count=prepared.counter("batch"),
    )
    try:
        saved = store.load()
        job.estimate = estimate_job(source, prepared.spec, saved, batch=True)
        prepared.check_cap()
        refuse_over_budget(job.estimate, options.job_max_cost, prepared.room())
        _submit_missing(job, saved, JobState(job.source.length))
    finally:
        prepared.close()
        store.close()
    return job


def refuse_over_budget(told: Estimate, job_cap: float | None, room: float | None) -> None:
    """A batch is submitted whole: refuse it when its estimate is over a cap."""
    if job_cap is not None and told.cost > job_cap:
        raise ConfigurationError(
            f"The batch job's estimated cost ${told.cost:.4f} is over job_max_cost "
            f"${job_cap:g}, and a batch is submitted whole, so nothing was sent. Raise "
            "job_max_cost, map fewer rows, or use batch=False (which stops launching at the cap)."
        )
    if room is not None and told.cost > room:
        raise ConfigurationError(
            f"The batch job's estimated cost ${told.cost:.4f} is more than the ${room:.4f} "
            "left under the session's spending cap (max_cost), and a batch is submitted whole, "
            "so nothing was sent. Raise the cap (%config KimiMagics.max_cost), map fewer rows, "
            "or use batch=False (which stops launching at the cap)."
        )


@contextmanager
def _connected(job: BatchJob) -> Iterator[None]:
    """A client for one call on a job made by `submit` (which keeps no connection open)."""
    if not job.owned:
        yield
        return
    session, job.client = new_client(job.connection, job.flags)
    try:
        yield
    finally:
        session.close()
        job.checkpoint.close()


def status(job: BatchJob) -> BatchStatus:
    """Poll each unfinished batch once; results that arrived are kept in the checkpoint."""
    with _connected(job):
        return _poll_once(job)


def _poll_once(job: BatchJob) -> BatchStatus:
    saved = job.checkpoint.load()
    states: dict[str, str] = {}
    for request_id, members in saved.batches.items():
        if _all_recorded(members, saved):
            states[request_id] = "done"
            continue
        poll = _poll(job, request_id, members, JobState(None))
        states[request_id] = poll.status
        if poll.status == "done":
            _harvest(job, members, poll, None, JobState(None))
    return _status(job, job.checkpoint.load(), states)


def results(job: BatchJob, *, wait: bool = True) -> MapOutput:
    """The results in input order (None / an error where missing); waits for all if `wait`."""
    if not wait:
        return _output(job, job.checkpoint.load(), JobState(job.source.length))[0]
    view, state = progress_view(job.progress), JobState(job.source.length)
    view.show(state)
    summary = ""
    try:
        with _connected(job):
            _wait(job, job.checkpoint.load(), view, state)
        output, found = _output(job, job.checkpoint.load(), state)
        summary = str(found)
    finally:
        view.close(state, summary)
    return output


def run_batch(
    job: BatchJob, saved: Saved, view: NoProgress, told: Estimate | None = None
) -> MapOutput:
    """`map(..., batch=True)`: submit what is missing, wait with progress, return results."""
    job.estimate = told
    state = JobState(job.source.length)
    view.show(state)
    summary = ""
    try:
        try:
            state.phase = "submitting"
            _submit_missing(job, saved, state)
            _wait(job, job.checkpoint.load(), view, state)
        except KeyboardInterrupt:
            state.stopped = "interrupt (the batch goes on at Cloudflare; run again to collect it)"
        output, found = _output(job, job.checkpoint.load(), state)
        summary = str(found)
    finally:  # an error too leaves a line, not a live bar
        view.close(state, summary)
        job.checkpoint.close()
    return output


# -- submitting ----------------------------------------------------------------------------


def _checkpoint(spec: JobSpec, checkpoint: Any) -> Checkpoint:
    store = checkpoint_for(spec, checkpoint)
    return store if store.path is not None else Checkpoint(None, in_memory=True)


def _covered(saved: Saved) -> set[tuple[int, str]]:
    """Items answered, or waiting in a batch not yet collected: not to be sent again."""
    covered = {(index, done.key) for index, done in saved.done.items()}
    for members in saved.batches.values():
        if not _all_recorded(members, saved):
            covered.update(members)
    return covered


def _bodies(job: BatchJob, saved: Saved) -> Iterator[tuple[tuple[int, str], dict[str, Any]]]:
    covered = _covered(saved)
    for index, row in enumerate(job.source.rows()):
        messages = job.spec.messages(row)
        key = job.spec.key(messages)
        if (index, key) not in covered:
            yield (index, key), wire.item_body(messages, job.spec.params, str(index))


def _submit_missing(job: BatchJob, saved: Saved, state: JobState) -> None:
    """Submit, payload by payload, each request id saved as soon as it is known."""
    for group in wire.payloads(_bodies(job, saved)):
        request_id = wire.submit(job.client, [body for _, body in group])
        job.checkpoint.add_batch(request_id, [member for member, _ in group])


# -- waiting and collecting ------------------------------------------------------------------


def _all_recorded(members: list[tuple[int, str]], saved: Saved) -> bool:
    def recorded(index: int, key: str) -> bool:
        done = saved.done.get(index)
        error = saved.errors.get(index)
        return (done is not None and done.key == key) or (error is not None and error[0] == key)

    return all(recorded(index, key) for index, key in members)


def _wait(job: BatchJob, saved: Saved, view: NoProgress, state: JobState) -> None:
    """Poll every unfinished batch, each with its own growing interval, until all are done."""
    pending = {r: m for r, m in saved.batches.items() if not _all_recorded(m, saved)}
    interval = {request_id: job.poll_interval for request_id in pending}
    next_poll = dict.fromkeys(pending, 0.0)
    state.phase = "queued"
    state.resumed = len(saved.done)  # answered before this wait: shown as from the checkpoint
    while pending:
        now = time.monotonic()
        for request_id in [r for r in pending if next_poll[r] <= now]:
            poll = _poll(job, request_id, pending[request_id], state)
            state.phase = poll.status
            if poll.status == "done":
                _harvest(job, pending.pop(request_id), poll, view, state)
                continue
            next_poll[request_id] = now + interval[request_id]
            interval[request_id] = min(interval[request_id] * POLL_GROWTH, POLL_MAX_S)
        if view.tick(state):
            state.stopped = "Stop (the batch goes on at Cloudflare; run again to collect it)"
            return
        if pending:
            time.sleep(TICK_S)
    state.phase = "done"


def _poll(job: BatchJob, request_id: str, members: list[tuple[int, str]], state: JobState) -> Any:
    """One poll; a batch Cloudflare no longer knows is an error per item (resent on a rerun)."""
    try:
        return wire.poll(job.client, request_id)
    except APIStatusError as error:
        if error.code != UNKNOWN_REQUEST_CODE:
            raise
    message = (
        f"Workers AI no longer knows the batch {request_id} this item was in (it may have "
        "expired). Run the same call again to resubmit it."
    )
    return wire.Poll(
        "done", tuple(wire.ItemResult(str(i), None, None, message) for i, _ in members)
    )


def _harvest(
    job: BatchJob,
    members: list[tuple[int, str]],
    poll: wire.Poll,
    view: NoProgress | None,
    state: JobState,
) -> None:
    """Write each result of a finished batch to the checkpoint under its item's index."""
    keys = dict(members)
    by_position = [index for index, _ in members]
    for item in poll.items:
        index = _index_of(item, keys, by_position)
        if index is None:
            continue  # not one of ours: ignore rather than misplace
        if item.answer is not None:
            job.checkpoint.add_result(index, keys[index], item.answer.text, item.answer.usage)
            if job.count is not None:  # paid for: counted in the session's ledger
                job.count(item.answer)
            state.usage = state.usage + item.answer.usage
            state.done += 1
        else:
            job.checkpoint.add_error(index, keys[index], item.error or "no result")
            state.failed += 1
    missing = set(keys) - {_index_of(i, keys, by_position) for i in poll.items}
    for index in missing:
        message = "The finished batch had no result for this item; run again to resubmit it."
        job.checkpoint.add_error(index, keys[index], message)
        state.failed += 1
    if view is not None:
        view.tick(state)


def _index_of(item: wire.ItemResult, keys: dict[int, str], by_position: list[int]) -> int | None:
    if item.reference is not None and item.reference.isdigit() and int(item.reference) in keys:
        return int(item.reference)
    if item.position is not None and 0 <= item.position < len(by_position):
        return by_position[item.position]
    return None


def _status(job: BatchJob, saved: Saved, states: dict[str, str]) -> BatchStatus:
    total = job.source.length or 0
    done = failed = 0
    for index, row in enumerate(job.source.rows()):
        key = job.spec.key(job.spec.messages(row))
        if index in saved.done and saved.done[index].key == key:
            done += 1
        elif index in saved.errors and saved.errors[index][0] == key:
            failed += 1
    return BatchStatus(total, done, failed, total - done - failed, states)


def _output(job: BatchJob, saved: Saved, state: JobState) -> tuple[MapOutput, MapSummary]:
    collector = Collector(job.spec, Checkpoint(None), NoProgress())
    for index, row in enumerate(job.source.rows()):
        key = job.spec.key(job.spec.messages(row))
        done = saved.done.get(index)
        collector.place(index, None)
        if done is not None and done.key == key:
            collector.keep(index, done.text)
        elif index in saved.errors and saved.errors[index][0] == key:
            collector.errors[index] = saved.errors[index][1]
        else:
            collector.errors[index] = "not answered yet: the batch is still queued or running"
    total = len(collector.values)
    state.done = total - len(collector.errors)
    state.failed = sum(1 for i in collector.errors if i in saved.errors)
    state.resumed = 0
    summary = summary_of(state, total, time.monotonic() - job.started, _where(job))
    if getattr(job.client.endpoint, "direct_url", ""):  # a gateway is set, and was passed by
        summary = replace(summary, note=wire.GATEWAY_NOTE)
    shaped = aligned(
        job.source, collector.values, collector.errors, summary, job.expand, job.estimate
    )
    return shaped, summary


def _where(job: BatchJob) -> str | None:
    return None if job.checkpoint.path is None else str(job.checkpoint.path)
