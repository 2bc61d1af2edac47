"""A Requester over a `Client` (or anything with the same `stream`): one call per item."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from ..api.client import Client
from ..core.answer import Answer
from .engine import WorkItem


class ClientRequester:
    """Sends each item with the job's parameters and one `x-session-affinity` for the job.

    The map does its own retries (it must see each 429 to slow down), so a `Client` is
    used through a shallow copy with `max_retries = 0`: same connections, same endpoint.
    `count` gets every answer that used tokens, whole or not (the session's ledger).
    """

    def __init__(
        self,
        client: Any,
        session_id: str,
        params: dict[str, Any],
        count: Callable[[Answer], None] | None = None,
    ) -> None:
        if isinstance(client, Client) and client.max_retries:
            client = copy.copy(client)
            client.max_retries = 0
        self.client = client
        self.session_id = session_id
        self.params = params
        self.count = count
        self._open: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._stopping = False

    def __call__(self, item: WorkItem) -> Answer:
        stream = self.client.stream(item.messages, session_id=self.session_id, **self.params)
        with self._lock:
            if self._stopping:
                stream.stop()
            self._open[item.index] = stream
        try:
            answer: Answer = stream.until_done()
        except BaseException:
            self._count(getattr(stream, "answer", None))  # a broken stream's tokens count too
            raise
        else:
            self._count(answer)
            return answer
        finally:
            with self._lock:
                self._open.pop(item.index, None)

    def _count(self, answer: Answer | None) -> None:
        if self.count is not None and answer is not None:
            self.count(answer)

    def stop_all(self) -> None:
        """Close every open request (a second interrupt): their partial answers are dropped."""
        with self._lock:
            self._stopping = True
            streams = list(self._open.values())
        for stream in streams:
            stream.stop()
