"""What a session spent: calls, tokens and cost per conversation, and the spending cap."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .answer import Answer
from .errors import SpendingCapError
from .types import Usage


@dataclass
class Tally:
    calls: int = 0
    usage: Usage = field(default_factory=Usage)

    @property
    def cost(self) -> float:
        return self.usage.cost


@dataclass
class Ledger:
    """Usage of every answered call of the session, by conversation name.

    Background answers and map jobs finish on other threads: writers and readers alike take
    this ledger's own lock (a map sharing a session's ledger shares its lock with it)."""

    by_conversation: dict[str, Tally] = field(default_factory=dict)
    last_latency: float | None = None  # seconds to the first token of the last call
    last_seconds: float | None = None
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def add(self, conversation: str, answer: Answer) -> None:
        """Count a call's usage; a reply from the local cache cost nothing and is not counted."""
        if answer.from_cache:
            return
        with self._lock:
            self._add(conversation, answer)

    def _add(self, conversation: str, answer: Answer) -> None:
        tally = self.by_conversation.setdefault(conversation, Tally())
        tally.calls += 1
        if not answer.gateway_hit:  # an AI Gateway cache hit: Workers AI was not paid
            tally.usage = tally.usage + answer.usage
        self.last_latency = answer.latency
        self.last_seconds = answer.seconds

    @property
    def total(self) -> Tally:
        with self._lock:
            return self._total()

    def _total(self) -> Tally:
        total = Tally()
        for tally in self.by_conversation.values():
            total.calls += tally.calls
            total.usage = total.usage + tally.usage
        return total

    def check(self, cap: float | None) -> None:
        """Refuse the next call once the session has spent `cap` USD or more."""
        if cap is None:
            return
        spent = self.total
        if spent.cost >= cap:
            raise SpendingCapError(
                f"The session spending cap of ${cap:.4f} is reached: {spent.calls} calls cost "
                f"${spent.cost:.4f}, so nothing was sent. Raise the cap (%config "
                "KimiMagics.max_cost = 1.0, or in the panel), remove it (= None), or restart "
                "the kernel to start a new session."
            )

    def markdown(self) -> str:
        """A table: calls, tokens in / cached / out and cost per conversation, then the total."""
        head = (
            "| conversation | calls | tokens in | cached | out | cost |\n"
            "|---|---:|---:|---:|---:|---:|\n"
        )
        with self._lock:
            rows = [_row(name, tally) for name, tally in sorted(self.by_conversation.items())]
            rows.append(_row("**total**", self._total()))
        return head + "\n".join(rows) + "\n"


def _row(name: str, tally: Tally) -> str:
    u = tally.usage
    return (
        f"| {name} | {tally.calls:,} | {u.prompt_tokens:,} | {u.cached_tokens:,} | "
        f"{u.completion_tokens:,} | ${tally.cost:.4f} |"
    )
