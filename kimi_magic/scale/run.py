"""`kimi_magic.map`: one template over every item, on threads or Cloudflare's async batch."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..core.constants import MAX_RETRIES
from ..core.parameters import validate
from ..core.settings import DEFAULTS, resolve
from .checkpoint import Checkpoint
from .engine import Limits, run
from .estimate import Estimate, estimate
from .job import Collector, JobSpec, checkpoint_for, job_spec, work_items
from .output import MapSummary, aligned, summary_of
from .progress import NoProgress, progress_view
from .requester import ClientRequester
from .source import Source, source_of
from .state import JobState

DEFAULT_CONCURRENCY = 16
# Map retries a rate-limited item more than one cell would: it has many items to finish.
MAP_MAX_RETRIES = MAX_RETRIES + 5
# Above this many items, map hands the job to Cloudflare's async batch queue.
BATCH_THRESHOLD = 5_000
CONNECTION_KEYS = frozenset(
    {"account_id", "api_token", "base_url", "openai_base_url", "api_key", "api", "model"}
    | {"connect_timeout", "read_timeout", "transport", "endpoint"}
)


@dataclass(frozen=True)
class Options:
    """How a job runs (what it asks is the JobSpec)."""

    expand: bool = True
    concurrency: int = DEFAULT_CONCURRENCY
    max_retries: int = MAP_MAX_RETRIES
    max_cost: float | None = None
    dry_run: bool = False
    checkpoint: Any = None
    batch: bool | None = None
    batch_threshold: int = BATCH_THRESHOLD
    progress: bool | NoProgress = True
    poll_interval: float = 2.0  # batch: the first wait between polls (it grows to 30 s)


def map_items(
    items: Any,
    template: str,
    *,
    instruction: str | None = None,
    system: str | None = None,
    schema: Any = None,
    client: Any = None,
    **keywords: Any,
) -> Any:
    """Ask the same question of every item; results come back aligned with the input.

    >>> reviews.join(kimi_magic.map(reviews, "Sentiment of: {text}"))
    >>> kimi_magic.map(["a cat", "a dog"], "One word for {item}", max_cost=0.05)
    """
    job = prepare(items, template, instruction, system, schema, client, keywords)
    try:
        return _map(job.source, job.spec, job.client, job.options)
    finally:
        job.close()


@dataclass
class Prepared:
    """A job ready to run: its input, what it asks, the client, how it runs."""

    source: Source
    spec: JobSpec
    client: Any
    options: Options
    owned: bool  # the client was made here, so it is closed here
    connection: dict[str, Any]  # how to make another like it

    def close(self) -> None:
        if self.owned and hasattr(self.client, "close"):
            self.client.close()


def prepare(
    items: Any,
    template: str,
    instruction: str | None,
    system: str | None,
    schema: Any,
    client: Any,
    keywords: dict[str, Any],
) -> Prepared:
    """Everything checked before anything is sent: input, template, parameters, client."""
    source = source_of(items)
    names = set(Options.__dataclass_fields__)
    options = Options(**{k: keywords.pop(k) for k in list(keywords) if k in names})
    connection = {k: keywords.pop(k) for k in list(keywords) if k in CONNECTION_KEYS}
    params, model, kind, system = _parameters(keywords, system, connection)
    owned = client is None and not options.dry_run
    if owned:
        client = _client(connection)
    kind = getattr(getattr(client, "endpoint", None), "kind", kind)
    spec = job_spec(template, instruction, system, schema, params, kind, model)
    spec.template.check(source.first_fields())
    return Prepared(source, spec, client, options, owned, connection)


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


def _parameters(
    params: dict[str, Any], system: str | None, connection: dict[str, Any]
) -> tuple[dict[str, Any], str, str, str | None]:
    """Keywords over config files, environment and defaults; (request parameters, model,
    endpoint kind, system). A random seed mode is not applied: one job, one set of parameters."""
    given = {k: v for k, v in {**params, **connection}.items() if k in DEFAULTS}
    resolved = resolve({**given, "system": system})
    for name in ("model", "api", "read_timeout", "record", "replay"):
        connection.setdefault(name, resolved[name])
    request = resolved.request_parameters()
    old = request.pop("max_tokens", None)
    if old is not None:
        request.setdefault("max_completion_tokens", old)
    # Nobody watches one item's answer arrive: a whole JSON reply is far cheaper to read than
    # a hundred SSE events, and that is CPU the kernel shares with the rest of the job.
    request["stream"] = bool(params["stream"]) if params.get("stream") is not None else False
    others = {k: v for k, v in params.items() if k not in DEFAULTS}  # tools, response_format
    kind = str(resolved["api"])
    return validate({**request, **others}), str(resolved["model"]), kind, resolved["system"] or None


def _client(connection: dict[str, Any]) -> Any:
    """A client that retries nothing itself (map does), recording or replaying when asked."""
    from .replay import client_for

    return client_for({**connection, "max_retries": 0})
