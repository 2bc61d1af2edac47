"""Kimi K2.6 on Cloudflare Workers AI in Jupyter: `%load_ext kimi_magic`, then `%%kimi`.

Importing this package loads no HTTP, IPython or widget code: the public names below load
their modules on first use, so `%load_ext kimi_magic` stays fast.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from .core.answer import Answer
    from .core.call import Call
    from .core.conversation import Conversation
    from .core.errors import (
        APIConnectionError,
        APIStatusError,
        APITimeoutError,
        ConfigurationError,
        KimiError,
        StreamError,
    )
    from .core.types import Usage
    from .magic.panel import Panel
    from .python_api import Kimi, Session, Tools
    from .scale.batch import BatchJob, BatchStatus
    from .scale.estimate import Estimate
    from .scale.frame import MapFrame
    from .scale.output import MapResult
    from .session.workspace import trust, untrust
    from .tools.registry import Tool, tool
    from .tools.results import ToolOutput

__version__ = "0.2.0"

# Public name -> the module that defines it (loaded on first access).
_LAZY = {
    "Answer": ".core.answer",
    "Usage": ".core.types",
    "Call": ".core.call",
    "AnswerStream": ".core.call",
    "Conversation": ".core.conversation",
    "APIConnectionError": ".core.errors",
    "APIStatusError": ".core.errors",
    "APITimeoutError": ".core.errors",
    "ConfigurationError": ".core.errors",
    "KimiError": ".core.errors",
    "StreamError": ".core.errors",
    "Kimi": ".python_api",
    "Session": ".python_api",
    "tool": ".tools.registry",
    "Tool": ".tools.registry",
    "ToolOutput": ".tools.results",
    "trust": ".session.workspace",
    "untrust": ".session.workspace",
}

# `map` is left out on purpose: `from kimi_magic import *` must not shadow the builtin; it stays
# `kimi_magic.map(...)`.
__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "Answer",
    "AnswerStream",
    "Call",
    "ConfigurationError",
    "Conversation",
    "Kimi",
    "KimiError",
    "Session",
    "StreamError",
    "Tool",
    "ToolOutput",
    "Usage",
    "ask",
    "batch_results",
    "batch_status",
    "batch_submit",
    "load_ipython_extension",
    "panel",
    "tool",
    "trust",
    "untrust",
    "wait",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kimi_magic' has no attribute {name!r}")
    # AnswerStream is the old name of Call.
    return getattr(
        importlib.import_module(module, __name__), "Call" if name == "AnswerStream" else name
    )


def ask(
    prompt: str,
    *,
    chat: Conversation | str | None = None,
    system: str | None = None,
    tools: Tools | None = None,
    echo: bool = False,
    **params: Any,
) -> Answer:
    """Ask Kimi K2.6 once and return the answer; `echo=True` streams it to stdout as it comes.

    Keywords are request parameters and settings (as in %kimi config), over the config files
    and the environment; an unknown keyword is refused. `tools=[function, "name", "notebook",
    "python", "mcp:SERVER"]` lets the model call tools until it answers; `chat=` a
    Conversation keeps the history between calls. `Session.ask` and `Kimi.ask` take the same.

    >>> answer = kimi_magic.ask("Summarise this", temperature=0.2)
    >>> answer.text, answer.reasoning, answer.usage, answer.cost, answer.notes
    """
    from .api.client import CONNECTION_KEYS
    from .offline import start_if_asked
    from .python_api import Session, ask_in

    start_if_asked()
    connection = {k: params.pop(k) for k in list(params) if k in CONNECTION_KEYS}
    session = Session(connection=connection)
    try:
        return ask_in(
            session, prompt, chat=chat, system=system, tools=tools, echo=echo, options=params
        )
    finally:
        session.close()


# A list, tuple, range, set or iterator gives a MapResult; a dry run its Estimate; anything
# else (a pandas Series or DataFrame: a MapFrame) one of the two shapes.
@overload
def map(
    items: Sequence[Any] | AbstractSet[Any] | Iterator[Any],
    template: str,
    *,
    dry_run: Literal[False] = False,
    **params: Any,
) -> MapResult: ...
@overload
def map(items: Any, template: str, *, dry_run: Literal[True], **params: Any) -> Estimate: ...
@overload
def map(
    items: Any, template: str, *, dry_run: Literal[False] = False, **params: Any
) -> MapResult | MapFrame: ...
def map(
    items: Any, template: str, *, dry_run: bool = False, **params: Any
) -> MapResult | MapFrame | Estimate:
    """One prompt over every item of a list, Series or DataFrame; results in the input's order.

    Returns, for a list or any iterable, a `MapResult`: a list of the answers (None where an
    item failed or was not sent) with `.errors`, `.summary` (counts, tokens, cached tokens,
    cost, why it stopped), `.estimate` and `.to_frame()`; for a pandas Series or DataFrame,
    a `MapFrame`: a DataFrame with the input's index (an `answer` column or the schema's
    columns, and `error`) with the same `.summary` and `.estimate`, so `df.join(...)` works.
    With `dry_run=True`, nothing is sent and the `Estimate` of tokens and cost is returned.

    The job runs in the notebook's session when the extension is loaded (or `session=`):
    its settings apply, its spending cap (`max_cost`) bounds the job (a session at its cap
    refuses the map before anything is sent; a job that would cross it stops launching
    there), and every item is counted in its ledger, so `%kimi usage` lists the job as
    `map <id>` or `batch <id>`. In plain Python a session is made for the call.

    `{item}` is a list element, `{column}` a row's value. Keywords: instruction (shared, sent
    first), schema (dict or pydantic model; expand=True makes columns), concurrency,
    job_max_cost (USD this job may spend; `max_cost=` is its deprecated old name), dry_run,
    checkpoint (path or False), batch (Cloudflare's async batch; an iterator is read once
    into a list), progress, client, session, record / replay (a replay file), and any
    request parameter or setting.

    >>> df = df.join(kimi_magic.map(df, "Sentiment of: {review}", schema=Sentiment))
    >>> labels = kimi_magic.map(["cat", "dog"], "One word for {item}", job_max_cost=0.05)
    >>> labels.summary.cost, labels.errors
    """
    from .scale.run import map_items

    _in_the_notebook(params)
    return map_items(items, template, dry_run=dry_run, **params)


def batch_submit(items: Any, template: str, **params: Any) -> BatchJob:
    """Submit a map to Cloudflare's async batch queue and return at once with a `BatchJob`.
    The session's cap and `job_max_cost` are checked against the estimate first (a batch is
    paid whole); each result is counted in the session's ledger when it is collected.

    >>> job = kimi_magic.batch_submit(df, "Summarise: {text}")   # later, even after a restart:
    >>> kimi_magic.batch_status(job); df.join(kimi_magic.batch_results(job))
    """
    from .scale.batch import submit

    _in_the_notebook(params)
    return submit(items, template, **params)


def batch_status(job: BatchJob) -> BatchStatus:
    """How a submitted batch job stands: queued, running or done, with counts."""
    from .scale.batch import status

    return status(job)


def batch_results(job: BatchJob, *, wait: bool = True) -> MapResult | MapFrame:
    """A submitted batch job's results in input order (waits for them unless wait=False):
    a `MapResult` or `MapFrame`, as `map` returns."""
    from .scale.batch import results

    return results(job, wait=wait)


def _in_the_notebook(params: dict[str, Any]) -> None:
    """Without `session=`, a job in a notebook with the extension loaded runs in its session."""
    if params.get("session") is not None or "kimi_magic.magic.extension" not in sys.modules:
        return
    from IPython import get_ipython

    from .magic.extension import loaded

    magics = loaded(get_ipython())
    if magics is not None:
        params["session"] = magics.session


def panel(where: str = "auto") -> Panel:
    """The settings panel (JupyterLab's right side area, inline elsewhere); loads the extension.

    >>> kimi_magic.panel()
    """
    from .magic.extension import open_panel_from_python

    return open_panel_from_python(where)


def wait(timeout: float | None = None) -> bool:
    """Block until the notebook's background answers (`%%kimi --bg`) have finished; True
    when they have (at once in a script, where there are none), False if `timeout` passed.

    >>> kimi_magic.wait()   # before a cell that uses their -o variables
    """
    from .magic.extension import wait_for_background

    return wait_for_background(timeout)


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """`%load_ext kimi_magic`: registers `%kimi` and `%%kimi`; nothing is sent yet.
    With KIMI_MAGIC_EMULATOR=1 it first starts the offline emulator, and says so."""
    from .magic.extension import load
    from .offline import start_if_asked

    note = start_if_asked()
    if note:
        print(note)
    load(ipython)


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """`%unload_ext kimi_magic`: undoes what loading did and closes the connections."""
    from .magic.extension import unload

    unload(ipython)
