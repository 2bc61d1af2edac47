"""`kimi_magic.map`: one template over every item, on threads or Cloudflare's async batch,
inside a session: its spending cap bounds the job and its ledger counts every item."""

from __future__ import annotations

import difflib
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..core.errors import ConfigurationError
from .checkpoint import Checkpoint
from .engine import Limits, run
from .estimate import Estimate
from .job import Collector, JobSpec, checkpoint_for, estimate_job, work_items
from .output import MapSummary, aligned, summary_of
from .progress import NoProgress, progress_view
from .requester import ClientRequester
from .setup import Prepared, prepare
from .source import Source
from .state import JobState

if TYPE_CHECKING:
    from .output import MapOutput

MAP_STOP_WAIT_S = 10.0  # how long a closing session waits for a running job's workers


def map_items(
    items: Any,
    template: str,
    *,
    instruction: str | None = None,
    system: str | None = None,
    schema: Any = None,
    client: Any = None,
    session: Any = None,
    **keywords: Any,
) -> MapOutput | Estimate:
    """Ask the same question of every item; results come back aligned with the input.
    `session`: the notebook's Session, whose settings, client, spending cap and ledger apply.

    >>> reviews.join(kimi_magic.map(reviews, "Sentiment of: {text}"))
    >>> kimi_magic.map(["a cat", "a dog"], "One word for {item}", job_max_cost=0.05)
    """
    job = prepare(items, template, instruction, system, schema, client, keywords, session)
    try:
        return _map(job)
    finally:
        job.close()


def map_cell(
    namespace: Mapping[str, Any], name: str, template: str, **keywords: Any
) -> MapOutput | Estimate:
    """`%%kimi --map NAME`: the cell is the template, NAME the notebook variable to map over."""
    if name not in namespace:
        close = difflib.get_close_matches(name, [n for n in namespace if not n.startswith("_")])
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigurationError(
            f"--map {name}: there is no variable {name!r} in the notebook, so nothing was "
            f"sent.{hint} Define the list, Series or DataFrame first, then run the cell again."
        )
    return map_items(namespace[name], template, **keywords)


def _map(job: Prepared) -> MapOutput | Estimate:
    source, spec, options = job.source, job.spec, job.options
    use_batch = options.batch
    if use_batch is None:
        use_batch = (source.length or 0) > options.batch_threshold
    if use_batch:
        # A batch reads the rows again for its results: an iterator is read once, here.
        source = job.source = source.materialised()
    store = checkpoint_for(spec, options.checkpoint)
    saved = store.load()
    # Told before anything is sent (one lazy pass: renders and digests, nothing kept).
    told = estimate_job(source, spec, saved, use_batch)
    if options.dry_run:
        return told
    job.check_cap()  # the session's cap is reached: refused before anything is sent
    view = progress_view(options.progress)
    view.note = str(told) if told.items is not None else ""
    if use_batch:
        from .batch import BatchJob, refuse_over_budget, run_batch

        refuse_over_budget(told, options.job_max_cost, job.room())
        if store.path is None:  # the job's request ids must outlive the submit
            store = Checkpoint(None, in_memory=True)
        batch = BatchJob(source, spec, job.client, store, options.expand, options.poll_interval)
        batch.count = job.counter("batch")
        return run_batch(batch, saved, view, told)
    requester = ClientRequester(
        job.client, spec.session_id, spec.params, job.counter("map"), spec.headers
    )
    item_cost = told.cost / max(told.items or 1, 1)
    concurrency, retries = max(1, int(options.concurrency)), max(0, int(options.max_retries))
    limits = Limits(concurrency, retries, options.job_max_cost, item_cost, job.room, job.cap)
    stop, ended, runner = threading.Event(), threading.Event(), threading.current_thread()

    def stop_job() -> None:  # the session closes: end the job, close what is in flight
        stop.set()
        requester.stop_all()
        if threading.current_thread() is not runner:
            ended.wait(MAP_STOP_WAIT_S)  # its workers joined, within a bounded time

    forget = job.spending.on_close(stop_job)
    try:
        return _threaded(
            source, spec, requester, store, saved, view, limits, options.expand, told, stop
        )
    finally:
        forget()
        requester.close()
        ended.set()


def _threaded(
    source: Source,
    spec: JobSpec,
    requester: Any,
    store: Checkpoint,
    saved: Any,
    view: NoProgress,
    limits: Limits,
    expand: bool,
    told: Estimate | None = None,
    stop: threading.Event | None = None,
) -> MapOutput:
    started = time.monotonic()
    state = JobState(source.length)
    collector = Collector(spec, store, view)
    view.show(state)
    summary = None
    try:
        work = work_items(source, spec, saved, collector, state)
        run(work, requester, collector, limits, state, stop)
        total = source.length if source.length is not None else len(collector.values)
        collector.values.extend([None] * (total - len(collector.values)))
        summary = summary_of(state, total, time.monotonic() - started, _shown(store))
    finally:
        store.close()
        view.close(state, "" if summary is None else str(summary))
    _mark_not_sent(collector, summary)
    return aligned(source, collector.values, collector.errors, summary, expand, told)


def _mark_not_sent(collector: Collector, summary: MapSummary) -> None:
    if not summary.not_run:
        return
    why = f"not sent: the job stopped ({summary.stopped})" if summary.stopped else "not sent"
    for index, value in enumerate(collector.values):
        if value is None and index not in collector.errors:
            collector.errors[index] = why + "; run the same call again to send it."


def _shown(store: Checkpoint) -> str | None:
    return None if store.path is None else str(store.path)
