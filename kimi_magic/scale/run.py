"""`kimi_magic.map`: one template over every item, on threads or Cloudflare's async batch."""

from __future__ import annotations

import difflib
import time
from collections.abc import Mapping
from typing import Any

from ..core.errors import ConfigurationError
from .checkpoint import Checkpoint
from .engine import Limits, run
from .estimate import Estimate, estimate
from .job import Collector, JobSpec, checkpoint_for, work_items
from .output import MapSummary, aligned, summary_of
from .progress import NoProgress, progress_view
from .requester import ClientRequester
from .setup import Options, prepare
from .source import Source
from .state import JobState


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
) -> Any:
    """Ask the same question of every item; results come back aligned with the input.
    `session`: the notebook's Session, whose panel / %config settings and client apply.

    >>> reviews.join(kimi_magic.map(reviews, "Sentiment of: {text}"))
    >>> kimi_magic.map(["a cat", "a dog"], "One word for {item}", max_cost=0.05)
    """
    job = prepare(items, template, instruction, system, schema, client, keywords, session)
    try:
        return _map(job.source, job.spec, job.client, job.options)
    finally:
        job.close()


def map_cell(namespace: Mapping[str, Any], name: str, template: str, **keywords: Any) -> Any:
    """`%%kimi --map NAME`: the cell is the template, NAME the notebook variable to map over."""
    if name not in namespace:
        close = difflib.get_close_matches(name, [n for n in namespace if not n.startswith("_")])
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigurationError(
            f"--map {name}: there is no variable {name!r} in the notebook, so nothing was "
            f"sent.{hint} Define the list, Series or DataFrame first, then run the cell again."
        )
    return map_items(namespace[name], template, **keywords)


def _map(source: Source, spec: JobSpec, client: Any, options: Options) -> Any:
    store = checkpoint_for(spec, options.checkpoint)
    saved = store.load()
    use_batch = options.batch
    if use_batch is None:
        use_batch = (source.length or 0) > options.batch_threshold
    # Told before anything is sent (one lazy pass: renders and digests, nothing kept).
    told = _estimate(source, spec, saved, use_batch)
    if options.dry_run:
        return told
    view = progress_view(options.progress)
    view.note = str(told) if told.items is not None else ""
    if use_batch:
        from .batch import BatchJob, run_batch

        cap = options.max_cost
        if cap is not None and told.cost > cap:
            raise ConfigurationError(
                f"The batch job's estimated cost ${told.cost:.4f} is over max_cost ${cap:g}, "
                "and a batch is submitted whole, so nothing was sent. Raise max_cost, map "
                "fewer rows, or use batch=False (which stops launching at the cap)."
            )
        if store.path is None:  # the job's request ids must outlive the submit
            store = Checkpoint(None, in_memory=True)
        job = BatchJob(source, spec, client, store, options.expand, options.poll_interval)
        return run_batch(job, saved, view)
    requester = ClientRequester(client, spec.session_id, spec.params)
    item_cost = told.cost / max(told.items or 1, 1)
    concurrency, retries = max(1, int(options.concurrency)), max(0, int(options.max_retries))
    limits = Limits(concurrency, retries, options.max_cost, item_cost)
    return _threaded(source, spec, requester, store, saved, view, limits, options.expand)


def _threaded(
    source: Source,
    spec: JobSpec,
    requester: Any,
    store: Checkpoint,
    saved: Any,
    view: NoProgress,
    limits: Limits,
    expand: bool,
) -> Any:
    started = time.monotonic()
    state = JobState(source.length)
    collector = Collector(spec, store, view)
    view.show(state)
    summary = None
    try:
        work = work_items(source, spec, saved, collector, state)
        run(work, requester, collector, limits, state)
        total = source.length if source.length is not None else len(collector.values)
        collector.values.extend([None] * (total - len(collector.values)))
        summary = summary_of(state, total, time.monotonic() - started, _shown(store))
    finally:
        store.close()
        view.close(state, "" if summary is None else str(summary))
    _mark_not_sent(collector, summary)
    return aligned(source, collector.values, collector.errors, summary, expand)


def _mark_not_sent(collector: Collector, summary: MapSummary) -> None:
    if not summary.not_run:
        return
    why = f"not sent: the job stopped ({summary.stopped})" if summary.stopped else "not sent"
    for index, value in enumerate(collector.values):
        if value is None and index not in collector.errors:
            collector.errors[index] = why + "; run the same call again to send it."


def _shown(store: Checkpoint) -> str | None:
    return None if store.path is None else str(store.path)


def _estimate(source: Source, spec: JobSpec, saved: Any, batch: bool) -> Estimate:
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
