"""What the controls add around one `%kimi` call: the spending cap, trimming history to the
context window, the response cache, the n > 1 and logprobs views, usage and the panel."""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..api.cache import ResponseCache
from ..api.client import AnswerStream, Kimi
from ..core.constants import CONTEXT_RESERVE_TOKENS
from ..core.conversation import Conversation, Message
from ..core.parameters import deprecation_note, validate
from ..core.settings import Resolved
from ..render.display import Shown, show_stream
from .commands import show_markdown
from .history import fit_to_context

if TYPE_CHECKING:
    from .magics import KimiMagics


RANDOM_SEED_LIMIT = 2**31  # random seeds stay small enough for every server's integer type


def request_parameters(resolved: Resolved) -> dict[str, Any]:
    """The request parameters of one call, validated before anything is sent.

    `max_tokens` (deprecated) becomes `max_completion_tokens`; with `seed_mode = "random"` a
    seed given on the magic line still wins, otherwise each call draws a fresh one.
    """
    params = resolved.request_parameters()
    old = params.pop("max_tokens", None)
    if old is not None:
        params.setdefault("max_completion_tokens", old)
    if resolved["seed_mode"] == "random" and resolved.source("seed") != "flag":
        params["seed"] = random.randrange(RANDOM_SEED_LIMIT)
    return validate(params)


@dataclass
class Call:
    """One call about to be shown: its events, the cache it may go into, and its notes."""

    events: AnswerStream
    client: Kimi
    name: str  # the conversation's name in `%kimi usage`
    n: int = 1
    cache: ResponseCache | None = None
    notes: list[str] = field(default_factory=list)


def start(
    magics: KimiMagics,
    client: Kimi,
    conversation: Conversation,
    messages: list[Message],
    settings: dict[str, Any],
    resolved: Resolved,
    args: argparse.Namespace,
) -> Call:
    """Check the cap, fit the history, then open the stream (or its cached replay)."""
    magics.ledger.check(resolved["max_cost"])
    notes = []
    if resolved["max_tokens"] is not None:
        notes.append(deprecation_note("max_tokens"))
    reserve = settings.get("max_completion_tokens") or CONTEXT_RESERVE_TOKENS
    trimmed = fit_to_context(messages, int(resolved["context_window"]) - int(reserve))
    if trimmed.note:
        notes.append(trimmed.note)
    events = client.stream(trimmed.messages, session_id=conversation.session_id, **settings)
    name = "(--new)" if getattr(args, "new", False) else conversation.name
    call = Call(events, client, name, n=int(settings.get("n") or 1), notes=notes)
    if resolved["cache"]:
        call.cache = ResponseCache(
            Path(resolved["cache_dir"]).expanduser() if resolved["cache_dir"] else None
        )
        replay = None if getattr(args, "refresh", False) else call.cache.lookup(events, client)
        if replay is not None:
            call.events = replay
    return call


def show(call: Call) -> Shown:
    """Any notes, then the answer: tabs for n > 1, the live view otherwise."""
    for note in call.notes:
        show_markdown(f"<small>{note}</small>")
    kind = call.client.endpoint.kind
    if call.n > 1:
        from ..render.choices import show_choices

        return show_choices(call.events, call.n, kind)
    return show_stream(call.events, kind)


def finish(magics: KimiMagics, call: Call, shown: Shown) -> None:
    """Count the usage, keep a whole answer in the cache, show logprobs, refresh the panel."""
    answer = shown.answer
    if shown.error is None or answer.text:
        magics.ledger.add(call.name, answer)
    if call.cache is not None and shown.error is None and not shown.keyboard_interrupt:
        try:
            call.cache.store(call.events, call.client)
        except OSError as error:  # the answer is shown and kept: only the cache missed out
            show_markdown(
                f"<small>The answer was not cached: {call.cache.directory} is not writable "
                f"({error.strerror or error}). Set cache_dir to a writable folder.</small>"
            )
    if answer.logprobs:
        from ..render.logprobs import show_logprobs

        show_logprobs(answer.logprobs)
    if magics.panel_view is not None:
        magics.panel_view.refresh_usage()
        magics.panel_view.pull()  # a config file or the environment may have changed
