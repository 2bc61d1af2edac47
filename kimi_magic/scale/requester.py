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
        headers: dict[str, str] | None = None,
    ) -> None:
        if isinstance(client, Client) and client.max_retries:
            client = copy.copy(client)
            client.max_retries = 0
        self.client = client
        # A Client gets one copy per worker thread (see Client.for_one_thread; they share its
        # connection pool); anything else (a replay file, a test double) is shared.
        self._local = threading.local()
        self._workers: list[Client] = []
        self.session_id = session_id
        self.params = params
        self.count = count
        # cf-aig-* headers, given only for a client whose endpoint is an AI Gateway
        self.extra = {"headers": headers} if headers else {}
        self._open: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._stopping = False

    def __call__(self, item: WorkItem) -> Answer:
        client = self._client()
        stream = client.stream(
            item.messages, session_id=self.session_id, **self.extra, **self.params
        )
        with self._lock:
            if self._stopping:
                stream.stop()
            self._open[item.index] = stream
        try:
            answer: Answer = stream.result()
        except BaseException:
            self._count(getattr(stream, "answer", None))  # a broken stream's tokens count too
            raise
        else:
            self._count(answer)
            return answer
        finally:
            with self._lock:
                self._open.pop(item.index, None)

    def _client(self) -> Any:
        if not isinstance(self.client, Client):
            return self.client
        worker: Client | None = getattr(self._local, "client", None)
        if worker is None:
            worker = self._local.client = self.client.for_one_thread()
            with self._lock:
                self._workers.append(worker)
        return worker

    def close(self) -> None:
        """Close the worker threads' connections (after the job)."""
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            if worker._http is not self.client._http:
                worker.close()

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
