"""Everything a map job checks before anything is sent: the input, the template, the options,
the request parameters (keywords over config files, environment and defaults, as the magic
resolves them) and the client, which comes from a `Session` so record / replay apply.

Every job runs inside a session: the notebook's (or `session=`), whose spending cap and
ledger it shares, so `%kimi usage` lists it and its `max_cost` bounds it; in plain Python a
session made for the call. `job_max_cost` bounds one job on top of that."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..api.client import CONNECTION_KEYS
from ..core.answer import Answer
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
    job_max_cost: float | None = None  # USD this job may spend (the session's cap applies too)
    max_cost: float | None = None  # the old name of job_max_cost (deprecated)
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
    spending: Session  # whose spending cap and ledger the job shares
    cap: float | None  # that session's max_cost, read when the job was called

    def close(self) -> None:
        if self.session is not None:
            self.session.close()

    def check_cap(self) -> None:
        """Refuse the job, before anything is sent, when the session's cap is reached."""
        self.spending.ledger.check(self.cap)

    def room(self) -> float | None:
        """USD the session may still spend (None: no cap); this job's finished items count."""
        if self.cap is None:
            return None
        return self.cap - self.spending.ledger.total.cost

    def counter(self, kind: str) -> Callable[[Answer], None]:
        """Counts one answer of this job in the session's ledger, as `map <id>` / `batch <id>`."""
        ledger, label = self.spending.ledger, f"{kind} {self.spec.job_id[:8]}"

        def count(answer: Answer) -> None:
            if answer.usage.total_tokens:
                ledger.add(label, answer)

        return count


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

    With `session` (the notebook's), its panel / %config settings, client, spending cap and
    ledger are used; otherwise a session of our own is made for this job and closed after it.
    Connection keywords (base_url, api_token, ...) make a session of our own for the job that
    shares `session`'s cap, ledger and settings."""
    source = source_of(items)
    names = set(Options.__dataclass_fields__)
    options = _deprecations(Options(**{k: keywords.pop(k) for k in list(keywords) if k in names}))
    connection = {k: keywords.pop(k) for k in list(keywords) if k in CONNECTION_KEYS}
    flags = {k: keywords.pop(k) for k in list(keywords) if k in NAMES}
    if system is not None:
        flags["system"] = system
    own = None
    if session is None or connection:
        own = Session(connection={**connection, "max_retries": 0})
        if session is not None:  # other credentials, the same cap, ledger and settings
            own.ledger, own.overrides = session.ledger, session.overrides
    base = own if own is not None else session
    if base is None:  # unreachable: one of the two is set; says so to the type checker
        raise RuntimeError("map needs a session")
    resolved = base.settings(flags)
    base.untrusted_notice(resolved, warn=True)  # map shows no notes: a warning says it
    if client is None and not options.dry_run:
        client = base.client(resolved)
    params = _parameters(resolved, keywords)
    kind = getattr(getattr(client, "endpoint", None), "kind", resolved["api"])
    model = str(resolved["model"])
    # Rows are redacted as a cell's prompt is: the token, secret-looking names, key formats.
    endpoint = getattr(client, "endpoint", None)
    token = getattr(endpoint, "secrets", getattr(endpoint, "token", None))
    redactor = Redactor.collect(
        token=token,
        namespace=base.notebook.namespace if base.notebook else {},
        by_name=bool(resolved["redact_secret_names"]),
    )
    system_text = resolved["system"] or None
    spec = job_spec(template, instruction, system_text, schema, params, kind, model, redactor)
    if getattr(endpoint, "server", None) == "gateway":
        spec = replace(spec, headers=base.gateway_headers(resolved, "map"))
    spec.template.check(source.first_fields())
    cap = resolved["max_cost"]
    return Prepared(source, spec, client, options, own, connection, flags, base, cap)


def _deprecations(options: Options) -> Options:
    """`max_cost=` on a map is the old name of `job_max_cost=` (the session's `max_cost`
    setting is its spending cap, which applies to every job anyway)."""
    if options.max_cost is None:
        return options
    warnings.warn(
        "map(max_cost=...) is now job_max_cost=...: the USD this one job may spend. The "
        "session's max_cost setting (%config KimiMagics.max_cost) caps the whole session, map "
        "jobs included.",
        DeprecationWarning,
        stacklevel=5,
    )
    job_cap = options.job_max_cost if options.job_max_cost is not None else options.max_cost
    return replace(options, job_max_cost=job_cap, max_cost=None)


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
