"""Everything a map job checks before anything is sent: the input, the template, the options,
the request parameters (keywords over config files, environment and defaults, as the magic
resolves them) and the client, which comes from a `Session` so record / replay apply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..api.client import CONNECTION_KEYS
from ..core.constants import MAX_RETRIES
from ..core.parameters import normalized
from ..core.secrets import Redactor
from ..core.settings import NAMES, Resolved
from ..session.session import Session
from .job import JobSpec, job_spec
from .progress import NoProgress
from .source import Source, source_of

DEFAULT_CONCURRENCY = 16
# Map retries a rate-limited item more than one cell would: it has many items to finish.
MAP_MAX_RETRIES = MAX_RETRIES + 5
# Above this many items, map hands the job to Cloudflare's async batch queue.
BATCH_THRESHOLD = 5_000


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


@dataclass
class Prepared:
    """A job ready to run: its input, what it asks, the client, how it runs."""

    source: Source
    spec: JobSpec
    client: Any
    options: Options
    session: Session | None  # made here, so closed here (with the client it made)
    connection: dict[str, Any]  # how to make another client like it
    flags: dict[str, Any]

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def prepare(
    items: Any,
    template: str,
    instruction: str | None,
    system: str | None,
    schema: Any,
    client: Any,
    keywords: dict[str, Any],
    session: Session | None = None,
) -> Prepared:
    """Everything checked before anything is sent: input, template, parameters, client.

    With `session` (the notebook's), its panel / %config settings and its client are used;
    otherwise a session of our own is made for this job and closed after it."""
    source = source_of(items)
    names = set(Options.__dataclass_fields__)
    options = Options(**{k: keywords.pop(k) for k in list(keywords) if k in names})
    connection = {k: keywords.pop(k) for k in list(keywords) if k in CONNECTION_KEYS}
    flags = {k: keywords.pop(k) for k in list(keywords) if k in NAMES}
    if system is not None:
        flags["system"] = system
    own = Session(connection={**connection, "max_retries": 0}) if session is None else None
    base = session or own
    assert base is not None
    resolved = base.settings(flags)
    if client is None and not options.dry_run:
        client = base.client(resolved)
    params = _parameters(resolved, keywords)
    kind = getattr(getattr(client, "endpoint", None), "kind", resolved["api"])
    model = str(resolved["model"])
    # Rows are redacted as a cell's prompt is: the token, secret-looking names, key formats.
    token = getattr(getattr(client, "endpoint", None), "token", None)
    redactor = Redactor.collect(
        token=token,
        namespace=base.notebook.namespace if base.notebook else {},
        by_name=bool(resolved["redact_secret_names"]),
    )
    system_text = resolved["system"] or None
    spec = job_spec(template, instruction, system_text, schema, params, kind, model, redactor)
    spec.template.check(source.first_fields())
    return Prepared(source, spec, client, options, own, connection, flags)


def new_client(connection: dict[str, Any], flags: dict[str, Any]) -> tuple[Session, Any]:
    """A session's client for these settings that retries nothing itself (map does)."""
    session = Session(connection={**connection, "max_retries": 0})
    return session, session.client(session.settings(flags))


def _parameters(resolved: Resolved, others: dict[str, Any]) -> dict[str, Any]:
    """The request parameters: settings that are parameters, plus body keys (tools, ...).
    A random seed mode is not applied: one job, one set of parameters."""
    params = resolved.request_parameters()
    # Nobody watches one item's answer arrive: a whole JSON reply is far cheaper to read than
    # a hundred SSE events, and that is CPU the kernel shares with the rest of the job.
    stream = params.get("stream") if resolved.source("stream") != "default" else None
    params["stream"] = bool(stream) if stream is not None else False
    checked, _ = normalized({**params, **others})
    return checked
